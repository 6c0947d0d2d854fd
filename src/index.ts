/// <reference types="node" preserve="true" />
// Published declarations use Node's types (Buffer, NodeJS.*); TypeScript 6+ loads @types/node only if told.
/**
 * slotstream: many Node.js reader processes kept fresh from one PostgreSQL, through logical decoding.
 *
 * - `subscribe()` — a logical slot as an async iterable of whole, committed, decoded transactions, moved
 *   only by your `ack` (replication/).
 * - `tableStream()` / `messageStream()` / `StreamSet` — typed stream declarations, checked against the
 *   database (streams/).
 * - `TupleCache` / `CacheRegistry` / `CacheRules` — bounded caches and the rules that invalidate them;
 *   `StreamChangeCache` — per stream, where each entity last changed, kept by the same rules (cache/, reader/).
 * - `StreamReader` — applies each transaction as one unit: caches, position, wake-ups, ack (reader/).
 * - `StreamWriter` — the single writer: gap-free positions in commit order (writer/).
 * - `Notifier` — key-indexed long-poll waiters (notifier/).
 *
 * Subpaths: `slotstream/pgoutput` (the decoder alone), `slotstream/migrations` (the schema and the
 * publication), `slotstream/cli` (the command line, its project config), `slotstream/devdb` (local
 * PostgreSQL clusters for development and tests). The design: docs/design.md in the repository.
 */
export * from './cache/index.ts';
export * from './notifier/index.ts';
export * from './reader/index.ts';
export * from './replication/index.ts';
export * from './replication/pgoutput/index.ts';
export * from './streams/index.ts';
export * from './writer/index.ts';
