import type { RunSql } from '../replication/connect.ts';
import { SlotstreamError } from '../replication/errors.ts';
import { quoteIdent, quoteLiteral } from '../replication/names.ts';
import type { AnyStream } from './define.ts';
import { STREAM_HEAD_TABLE } from './stream-head.ts';

/** What a role does with the streams: decode and read them (a reader), or write them (the writer). */
export type StreamRole = 'reader' | 'writer';

/** One privilege a role lacks, with the statement that grants it. */
export interface MissingPrivilege {
  detail: string;
  grant: string;
}

/**
 * What each role needs, and why. A reader: REPLICATION (a role attribute: membership of a role that has it
 * does not pass it on) for its slot, and SELECT on stream_head (where it starts, and starts again after a
 * reset) and on the stream tables (its caches load from them). The writer: slotstream_allocate, which
 * updates stream_head, and every kind of write on the stream tables (its transactions insert, upsert and
 * delete). Tables of the service's own that its caches read are the service's to grant.
 */
const NEEDS: Record<
  StreamRole,
  { head: string[]; streams: string[]; replication: boolean; allocate: boolean }
> = {
  reader: { head: ['SELECT'], streams: ['SELECT'], replication: true, allocate: false },
  writer: {
    head: ['SELECT', 'UPDATE'],
    streams: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    replication: false,
    allocate: true,
  },
};

export interface PrivilegeCheckOptions {
  /** The role to check; the session's own user when omitted. */
  role?: string;
  /**
   * Tables of the service's own that the role needs besides the streams, each with its privileges (table
   * names as SQL writes them, e.g. `{ event_txns: ['SELECT', 'INSERT'] }`).
   */
  tables?: Readonly<Record<string, readonly string[]>>;
}

/**
 * What the role lacks to act as `kind` on `streams` (and on the service's own `tables`), each with its
 * GRANT; empty when nothing. A table that does not exist yet is not reported: the migrations make it.
 *
 * @example
 * ```ts
 * import { missingPrivileges } from 'slotstream';
 * const missing = await missingPrivileges((sql) => db.raw(sql), 'writer', [todos]);
 * if (missing.length > 0) throw new Error(missing.map((m) => m.grant).join('; '));
 * ```
 */
export async function missingPrivileges(
  run: RunSql,
  kind: StreamRole,
  streams: readonly AnyStream[],
  options: PrivilegeCheckOptions = {},
): Promise<MissingPrivilege[]> {
  const { role } = options;
  const needs = NEEDS[kind];
  const who = role === undefined ? 'current_user' : quoteLiteral(role);
  const wanted = [
    ...needs.head.map((p) => [STREAM_HEAD_TABLE, p]),
    ...streams.flatMap((s) =>
      s.kind === 'table'
        ? needs.streams.map((p) => [`${quoteIdent(s.schema)}.${quoteIdent(s.table)}`, p])
        : [],
    ),
    ...Object.entries(options.tables ?? {}).flatMap(([table, privileges]) =>
      privileges.map((p) => [table, p]),
    ),
  ];
  const { rows } = await run(
    `SELECT r.rolname AS role, r.rolreplication OR r.rolsuper AS replication,
            coalesce(has_function_privilege(r.oid, to_regprocedure('slotstream_allocate(bigint)'), 'EXECUTE'), false)
              AS allocate,
            (SELECT coalesce(array_agg(w.name || ' ' || w.privilege), '{}')
               FROM unnest(${textArray(wanted.map((w) => w[0] as string))}, ${textArray(wanted.map((w) => w[1] as string))})
                    AS w(name, privilege)
              WHERE to_regclass(w.name) IS NOT NULL AND NOT has_table_privilege(r.oid, w.name, w.privilege)) AS lacking
       FROM pg_roles r WHERE r.rolname = ${who}`,
  );
  const row = rows[0] as
    | { role: string; replication: boolean; allocate: boolean; lacking: string[] }
    | undefined;
  const name = role ?? 'current_user';
  if (row === undefined)
    return [{ detail: `role ${name} does not exist`, grant: `CREATE ROLE ${quoteIdent(name)} LOGIN` }];
  const to = quoteIdent(row.role);
  const missing: MissingPrivilege[] = [];
  if (needs.replication && !row.replication)
    missing.push({
      detail: 'no REPLICATION attribute (needed to create and stream from a slot)',
      grant: `ALTER ROLE ${to} REPLICATION`,
    });
  if (needs.allocate && !row.allocate)
    missing.push({
      detail: 'cannot execute slotstream_allocate(bigint)',
      grant: `GRANT EXECUTE ON FUNCTION slotstream_allocate(bigint) TO ${to}`,
    });
  const byTable = new Map<string, string[]>();
  for (const entry of row.lacking) {
    const at = entry.lastIndexOf(' ');
    const table = entry.slice(0, at);
    byTable.set(table, [...(byTable.get(table) ?? []), entry.slice(at + 1)]);
  }
  for (const [table, privileges] of byTable)
    missing.push({
      detail: `no ${privileges.join(', ')} on ${table}`,
      grant: `GRANT ${privileges.join(', ')} ON ${table} TO ${to}`,
    });
  return missing;
}

function textArray(values: readonly string[]): string {
  return `ARRAY[${values.map(quoteLiteral).join(', ')}]::text[]`;
}

/**
 * The session's role lacks what its part needs: thrown before anything is created (a reader's slot), so a
 * role fixed afterwards starts clean. `missing` has each privilege with its GRANT.
 *
 * @example
 * ```ts
 * import { PrivilegeError, StreamReader } from 'slotstream';
 * try { await StreamReader.start(options); } catch (e) {
 *   if (e instanceof PrivilegeError) console.error(e.missing.map((m) => m.grant).join(';\n'));
 * }
 * ```
 */
export class PrivilegeError extends SlotstreamError {
  constructor(
    readonly kind: StreamRole,
    readonly missing: readonly MissingPrivilege[],
  ) {
    super(
      `this role cannot run a ${kind}: ${missing.map((m) => m.detail).join('; ')}. As the tables' owner (or a ` +
        `superuser): ${missing.map((m) => `${m.grant};`).join(' ')}`,
      { code: '42501' },
    );
  }
}
