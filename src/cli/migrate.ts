import { parseArgs } from 'node:util';
import {
  type MigrateResult,
  type MigrationEntry,
  type MigrationStatus,
  migrateLatest,
  migrationStatus,
  rollback,
} from '../migrations/migrator.ts';
import { PUBLISH_ACTIONS } from '../replication/preflight.ts';
import type { Command } from './command.ts';
import { UsageError } from './command.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, redact, resolveConnection } from './connection.ts';

export const migrate: Command = {
  name: 'migrate',
  summary:
    "apply slotstream's schema, then the project's migrations, and keep its publication covering its streams",
  usage: [
    'usage: slotstream migrate [--status | --rollback] [--database-url URL]',
    '',
    "Applies slotstream's own schema (stream_head, slotstream_cursors; ledger slotstream_migrations), then",
    "the project's knex migrations and publication as its slotstream.config declares them (`migrations`,",
    '`streams`, `publication`). Idempotent: the publication is checked on every run and repaired when it is',
    'missing, lacks a table or does not publish every action, whatever the ledgers say.',
    '  --status            list both sets of migrations, whether each ran, and what the publication covers',
    "  --rollback          undo the project's last batch (slotstream's own schema stays)",
    CONNECTION_USAGE,
  ].join('\n'),

  async run(argv, project) {
    const { values } = parseArgs({
      args: argv,
      options: { ...CONNECTION_OPTIONS, status: { type: 'boolean' }, rollback: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.status && values.rollback) throw new UsageError('--status and --rollback exclude each other');
    if (values.rollback && !project.config.migrations)
      throw new UsageError(
        '--rollback undoes the project’s migrations, and no slotstream.config declares any',
      );
    const connection = await resolveConnection({
      databaseUrl: values['database-url'],
      log: (line) => console.error(line),
    });
    try {
      if (values.status) {
        console.log(
          formatStatus(redact(connection.url), await migrationStatus(connection.url, project.config)),
        );
      } else if (values.rollback) {
        const { batch, migrations } = await rollback(connection.url, project.config);
        console.log(
          migrations.length === 0
            ? 'nothing to roll back'
            : `rolled back batch ${batch}:\n${migrations.map((m) => `  ${m}`).join('\n')}`,
        );
      } else {
        console.log(formatMigrated(await migrateLatest(connection.url, project.config)));
      }
    } finally {
      await connection.close();
    }
    return undefined;
  },
};

export function formatMigrated(result: MigrateResult): string {
  const lines: string[] = [];
  const applied = [...result.slotstream.map((m) => `slotstream ${m}`), ...(result.service?.migrations ?? [])];
  if (applied.length > 0) lines.push('applied:', ...applied.map((m) => `  ${m}`));
  const p = result.publication;
  if (p?.created) lines.push(`created publication ${p.name}: ${p.added.join(', ')}`);
  else if (p && p.added.length > 0) lines.push(`publication ${p.name}: added ${p.added.join(', ')}`);
  if (p && p.restored.length > 0)
    lines.push(`publication ${p.name}: publishes ${p.restored.join(', ')} again`);
  if (p && p.whole.length > 0)
    lines.push(`publication ${p.name}: publishes ${p.whole.join(', ')} whole again`);
  return lines.length === 0 ? 'already up to date' : lines.join('\n');
}

export function formatStatus(where: string, status: MigrationStatus): string {
  const lines = [`database: ${where}`, 'slotstream migrations:', ...entries(status.slotstream)];
  if (status.service) lines.push('project migrations:', ...entries(status.service));
  else lines.push('project migrations: none declared (no slotstream.config with `migrations`)');
  const p = status.publication;
  lines.push(
    `${status.pending} pending`,
    !p.exists
      ? `publication ${p.name}: missing`
      : p.allTables
        ? `publication ${p.name}: all tables`
        : `publication ${p.name}: ${p.tables.length === 0 ? '(no tables)' : p.tables.join(', ')}`,
  );
  const off = PUBLISH_ACTIONS.filter((action) => p.exists && !p.publish.includes(action));
  if (off.length > 0) lines.push(`  does not publish: ${off.join(', ')} (slotstream migrate restores them)`);
  if (status.unpublished.length > 0)
    lines.push(`  not covered: ${status.unpublished.join(', ')} (slotstream migrate adds them)`);
  return lines.join('\n');
}

function entries(list: readonly MigrationEntry[]): string[] {
  if (list.length === 0) return ['  (none)'];
  return list.map((m) => {
    const state = m.ran ? `ran (batch ${m.batch})` : 'pending';
    return `  ${state.padEnd(15)} ${m.name}${m.missing ? '  (file missing)' : ''}`;
  });
}
