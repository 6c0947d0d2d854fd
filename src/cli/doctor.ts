import { parseArgs } from 'node:util';
import { streamTables } from '../migrations/publication.ts';
import { connectSql } from '../replication/connect.ts';
import { validatePublicationName } from '../replication/names.ts';
import { missingPrivileges } from '../streams/privileges.ts';
import { type Command, UsageError } from './command.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, resolveConnection } from './connection.ts';
import { type CheckResult, formatCheck, roleCheck, runChecks } from './doctor-checks.ts';
import { readServerFacts, type ServerFacts } from './doctor-facts.ts';
import { PEEK_MESSAGES, streamSchemaChecks } from './doctor-schema.ts';

const DEFAULT_STALE_LAG_BYTES = 1024n ** 3n;

export const doctor: Command = {
  name: 'doctor',
  summary: 'check the server for logical decoding: settings, privileges, publication, stale slots',
  usage: [
    'usage: slotstream doctor [--publication NAME] [--stale-lag BYTES] [--reader-role NAME] [--writer-role NAME]',
    '                         [--database-url URL]',
    '',
    'Prints one line per check, ok / warn / fail, with the fix; exits 1 if any check fails.',
    'Checks wal_level, max_replication_slots and max_wal_senders headroom, max_slot_wal_keep_size,',
    'idle_replication_slot_timeout (PostgreSQL 18+), the role’s REPLICATION privilege, the publication and',
    'the replica identity of its tables, and stale slots (lost, unreserved, or inactive and far behind).',
    "Checks each of the project's stream tables against its declaration, and decodes what each idle slot of",
    `this database holds (up to ${PEEK_MESSAGES} messages): a change its reader cannot decode fails, with the fix.`,
    'Says whether the server is a primary or a standby, and checks what that needs: on a primary (17+),',
    'synchronized_standby_slots; on a standby, hot_standby_feedback, primary_slot_name and (17+) slot sync.',
    "  --publication NAME  default: the project's (slotstream.config), else slotstream",
    `  --stale-lag BYTES   an inactive slot further behind is stale (default ${DEFAULT_STALE_LAG_BYTES}, 1 GiB)`,
    '  --reader-role NAME  check that role NAME can run a reader: REPLICATION, SELECT on stream_head and the',
    "                      project's stream tables",
    '  --writer-role NAME  check that role NAME can run the writer: slotstream_allocate, and SELECT, INSERT,',
    "                      UPDATE and DELETE on the project's stream tables",
    CONNECTION_USAGE,
  ].join('\n'),

  async run(argv, project) {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...CONNECTION_OPTIONS,
        publication: { type: 'string' },
        'stale-lag': { type: 'string' },
        'reader-role': { type: 'string' },
        'writer-role': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    const publication = validatePublicationName(values.publication ?? project.publication);
    const staleLag = values['stale-lag'];
    if (staleLag !== undefined && !/^\d{1,18}$/.test(staleLag))
      throw new UsageError(`--stale-lag wants a number of bytes, not '${staleLag}'`);
    const connection = await resolveConnection({
      databaseUrl: values['database-url'],
      log: (line) => console.error(line),
    });
    try {
      const streams = project.config.streams ?? [];
      const client = await connectSql({ connectionString: connection.url });
      let facts: ServerFacts;
      const roles: CheckResult[] = [];
      let schema: CheckResult[];
      try {
        facts = await readServerFacts(client, publication);
        schema = await streamSchemaChecks(client, publication, streams);
        for (const kind of ['reader', 'writer'] as const) {
          const role = values[`${kind}-role`];
          if (role === undefined) continue;
          roles.push(
            roleCheck(
              kind,
              role,
              await missingPrivileges((sql) => client.query(sql), kind, streams, { role }),
            ),
          );
        }
      } finally {
        await client.end();
      }
      const results = [
        ...runChecks(facts, {
          tables: streamTables(streams),
          staleLagBytes: staleLag === undefined ? DEFAULT_STALE_LAG_BYTES : BigInt(staleLag),
        }),
        ...schema,
        ...roles,
      ];
      for (const r of results) console.log(formatCheck(r));
      const count = (v: string) => results.filter((r) => r.verdict === v).length;
      console.log(`${count('ok')} ok, ${count('warn')} warn, ${count('fail')} fail`);
      return count('fail') > 0 ? 1 : 0;
    } finally {
      await connection.close();
    }
  },
};
