import type { Knex } from 'knex';
import { DEFAULT_PUBLICATION } from '../replication/names.ts';
import { PUBLISH_ACTIONS, type PublishAction, restrictedTables } from '../replication/preflight.ts';
import type { AnyStream } from '../streams/define.ts';

export interface PublicationState {
  name: string;
  exists: boolean;
  /** Created FOR ALL TABLES (by someone else): covers every table, now and later. */
  allTables: boolean;
  /** Covered tables as `schema.table`, sorted. */
  tables: string[];
  /** What it publishes (its `publish` parameter); readers need every action. */
  publish: PublishAction[];
}

/** What publishTables changed: nothing, a new publication, tables added to an existing one, actions restored. */
export interface PublicationChange {
  created: boolean;
  added: string[];
  /** Actions it did not publish and now does again. */
  restored: PublishAction[];
  /** Tables it published only in part (a row filter or a column list) and now publishes whole again. */
  whole: string[];
}

/**
 * Makes the publication exist, cover `tables` and publish every action, whatever state it is in: missing
 * (created), present from outside (the missing tables are added), or FOR ALL TABLES (its tables left alone);
 * an action it stopped publishing is restored and a table it publishes only in part (a row filter, a column list)
 * is published whole again, since readers stop on a transaction that lacks changes. PostgreSQL has no
 * CREATE PUBLICATION IF NOT EXISTS, and ADD TABLE fails for a table already in it, hence the checks.
 * `migrate` calls it with the tables of the service's table streams (streamTables). Creating a
 * publication needs at least one table: with none, the server's syntax error is what rejects.
 *
 * @example
 * ```ts
 * import { publishTables, streamTables } from 'slotstream/migrations';
 * const { created, added } = await publishTables(db, streamTables([todos]), 'todo'); // db: a knex
 * ```
 */
export async function publishTables(
  knex: Knex,
  tables: readonly string[],
  name: string = DEFAULT_PUBLICATION,
): Promise<PublicationChange> {
  const state = await publicationState(knex, name);
  if (!state.exists) {
    // No tables yet is a publication that covers none (CREATE PUBLICATION without FOR TABLE).
    const forTables = tables.length === 0 ? '' : ` FOR TABLE ${tables.map(() => '??').join(', ')}`;
    await knex.raw(`CREATE PUBLICATION ??${forTables}`, [name, ...tables]);
    return { created: true, added: [...tables], restored: [], whole: [] };
  }
  const restored = PUBLISH_ACTIONS.filter((action) => !state.publish.includes(action));
  if (restored.length > 0)
    await knex.raw(`ALTER PUBLICATION ?? SET (publish = '${PUBLISH_ACTIONS.join(', ')}')`, [name]);
  const added: string[] = [];
  if (state.allTables) return { created: false, added, restored, whole: [] };
  const whole = (await restrictedTables((sql) => knex.raw(sql), name)).filter((t) => tables.includes(t));
  // Dropped and added back in one transaction: a change decoded after it is published whole, one before it
  // as the publication said then, and none falls between.
  for (const table of whole)
    await knex.transaction(async (trx) => {
      await trx.raw('ALTER PUBLICATION ?? DROP TABLE ??', [name, table]);
      await trx.raw('ALTER PUBLICATION ?? ADD TABLE ??', [name, table]);
    });
  for (const table of tables) {
    const covered = await knex.raw(
      `SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
        WHERE p.pubname = ? AND r.prrelid = to_regclass(?)`,
      [name, table],
    );
    if (covered.rows.length === 0) {
      await knex.raw('ALTER PUBLICATION ?? ADD TABLE ??', [name, table]);
      added.push(table);
    }
  }
  return { created: false, added, restored, whole };
}

/**
 * Drops the publication (default `slotstream`) if it exists; `publishTables` or `slotstream migrate` makes
 * it again.
 *
 * @example
 * ```ts
 * import { dropPublication } from 'slotstream/migrations';
 * await dropPublication(db, 'todo'); // db: a knex
 * ```
 */
export async function dropPublication(knex: Knex, name: string = DEFAULT_PUBLICATION): Promise<void> {
  await knex.raw('DROP PUBLICATION IF EXISTS ??', [name]);
}

/**
 * What the publication (default `slotstream`) is now: whether it exists, whether it is FOR ALL TABLES, and
 * the tables it covers as `schema.table`. Read-only.
 *
 * @example
 * ```ts
 * import { publicationState } from 'slotstream/migrations';
 * const { exists, tables } = await publicationState(db, 'todo'); // e.g. true, ['public.todos']
 * ```
 */
export async function publicationState(
  knex: Knex,
  name: string = DEFAULT_PUBLICATION,
): Promise<PublicationState> {
  const pub = await knex.raw<{
    rows: ({ puballtables: boolean } & Record<`pub${PublishAction}`, boolean>)[];
  }>(
    'SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = ?',
    [name],
  );
  const row = pub.rows[0];
  if (!row) return { name, exists: false, allTables: false, tables: [], publish: [] };
  const tables = await knex.raw<{ rows: { name: string }[] }>(
    `SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables
      WHERE pubname = ? ORDER BY schemaname, tablename`,
    [name],
  );
  return {
    name,
    exists: true,
    allTables: row.puballtables,
    tables: tables.rows.map((r) => r.name),
    publish: PUBLISH_ACTIONS.filter((action) => row[`pub${action}`]),
  };
}

/**
 * The tables a publication must cover for `streams`: each table stream's, as `schema.table`.
 *
 * @example
 * ```ts
 * import { streamTables } from 'slotstream/migrations';
 * streamTables([todos]); // ['public.todos'] (message streams have no table)
 * ```
 */
export function streamTables(streams: readonly AnyStream[]): string[] {
  return streams.flatMap((s) => (s.kind === 'table' ? [s.qualifiedName] : []));
}
