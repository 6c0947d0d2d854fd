import { parseArgs } from 'node:util';
import { type MigrationStatus, migrateLatest, migrationStatus, rollback } from '../migrations/migrator.ts';
import type { PublicationState } from '../migrations/publication.ts';
import { type Command, UsageError } from './command.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, redact, resolveConnection } from './connection.ts';

export const migrate: Command = {
  name: 'migrate',
  summary: 'apply the knex migrations in migrations/ (stream tables, publication slotstream)',
  usage: [
    'usage: slotstream migrate [--status | --rollback] [--database-url URL]',
    '',
    'Applies every pending migration (a no-op when there is none).',
    '  --status            list the migrations and whether each ran, and what publication slotstream covers',
    '  --rollback          undo the last batch of migrations',
    CONNECTION_USAGE,
  ].join('\n'),

  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { ...CONNECTION_OPTIONS, status: { type: 'boolean' }, rollback: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.status && values.rollback) throw new UsageError('--status and --rollback exclude each other');
    const connection = await resolveConnection({
      databaseUrl: values['database-url'],
      log: (line) => console.error(line),
    });
    try {
      if (values.status) {
        console.log(formatStatus(redact(connection.url), await migrationStatus(connection.url)));
      } else if (values.rollback) {
        const { batch, migrations } = await rollback(connection.url);
        console.log(
          migrations.length === 0
            ? 'nothing to roll back'
            : `rolled back batch ${batch}:\n${migrations.map((m) => `  ${m}`).join('\n')}`,
        );
      } else {
        const { batch, migrations } = await migrateLatest(connection.url);
        console.log(
          migrations.length === 0
            ? 'already up to date'
            : `applied batch ${batch}:\n${migrations.map((m) => `  ${m}`).join('\n')}`,
        );
      }
    } finally {
      await connection.close();
    }
    return undefined;
  },
};

export function formatStatus(where: string, status: MigrationStatus): string {
  const lines = [`database: ${where}`, 'migrations:'];
  if (status.migrations.length === 0) lines.push('  (none)');
  for (const m of status.migrations) {
    const state = m.ran ? `ran (batch ${m.batch})` : 'pending';
    lines.push(`  ${state.padEnd(15)} ${m.name}${m.missing ? '  (file missing)' : ''}`);
  }
  lines.push(`${status.pending} pending`, formatPublication(status.publication));
  return lines.join('\n');
}

function formatPublication(p: PublicationState): string {
  if (!p.exists) return `publication ${p.name}: missing`;
  if (p.allTables) return `publication ${p.name}: all tables`;
  return `publication ${p.name}: ${p.tables.length === 0 ? '(no tables)' : p.tables.join(', ')}`;
}
