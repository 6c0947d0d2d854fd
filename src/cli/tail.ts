import { parseArgs } from 'node:util';
import type { Command } from './command.ts';
import { CONNECTION_USAGE, resolveConnection } from './connection.ts';
import { SLOT_OPTIONS, SLOT_USAGE, slotAndPublication } from './slot-options.ts';
import { runTail } from './tail-run.ts';

export const tail: Command = {
  name: 'tail',
  summary: 'print a slot’s decoded changes as JSON lines, acknowledging each transaction once written',
  usage: [
    'usage: slotstream tail --slot NAME [--publication NAME] [--temporary] [--wait] [--database-url URL]',
    '',
    'Streams the slot (created when missing) and prints one JSON object per change on stdout:',
    '  {"lsn","commit_lsn","xid","commit_time","table","op","row","old"}, op insert|update|delete|truncate|message;',
    '  messages add "prefix" and "content" (UTF-8 text, or \\x hex when the bytes are not valid UTF-8).',
    'int8 and numeric print as strings, bytea as \\x hex, timestamps as ISO strings, unchanged TOAST values',
    'as {"$unchanged_toast":true}. A transaction is acknowledged once its lines are written; one cut short',
    '(Ctrl-C, a closed pipe) comes again on the next run. Resets go to stderr as {"op":"reset",…}.',
    '',
    ...SLOT_USAGE,
    '  --temporary         a temporary slot: it disappears when tail exits',
    '  --wait              when another process holds the slot, wait for it instead of failing',
    CONNECTION_USAGE,
  ].join('\n'),

  async run(argv, project) {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...SLOT_OPTIONS,
        temporary: { type: 'boolean', default: false },
        wait: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    const { slot, publication } = slotAndPublication(values, project.publication);
    const connection = await resolveConnection({
      databaseUrl: values['database-url'],
      log: (line) => console.error(line),
    });
    try {
      return await runTail({
        connectionString: connection.url,
        slot,
        publication,
        temporary: values.temporary,
        wait: values.wait,
        out: process.stdout,
        err: (line) => console.error(line),
        signals: process,
      });
    } finally {
      await connection.close();
    }
  },
};
