/**
 * # streams/ — typed stream declarations and the updates decoded transactions become
 *
 * A stream is either a published table whose rows carry a writer-allocated position (`tableStream`), or a
 * prefix of logical messages (`messageStream`). Its columns are declared once, as PostgreSQL type names; the
 * TypeScript row type is computed from them and the same declaration is checked against the columns each
 * Relation message announces (and the catalog at start-up), so a schema the code does not expect fails
 * loudly, naming table and column, instead of yielding rows of the wrong shape.
 *
 * A decoded change to a stream table becomes a `StreamUpdate` `{stream, position, op, row, old}`; the
 * reader applies a transaction's updates as one batch (reader/). Positions and client tokens: token.ts and
 * docs/positions.md.
 */
export type { ColumnSpec, ColumnSpecs, ColumnType, InputRowOf, RowOf } from './columns.ts';
export * from './define.ts';
export * from './errors.ts';
export {
  type MissingPrivilege,
  missingPrivileges,
  type PrivilegeCheckOptions,
  PrivilegeError,
  type StreamRole,
} from './privileges.ts';
export type { CacheInvalidation } from './protocol.ts';
export { readStreamHead, STREAM_HEAD_TABLE, StreamHeadMissingError } from './stream-head.ts';
export { StreamSet } from './stream-set.ts';
export * from './token.ts';
