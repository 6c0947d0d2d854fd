import { randomUUID } from 'node:crypto';
import knexFactory from 'knex';
import {
  CacheRegistry,
  CacheRules,
  decodeToken,
  encodeToken,
  on,
  StreamReader,
  StreamSet,
  StreamWriter,
} from 'slotstream';
import { todos } from './streams.js';

/**
 * The todo service: writes go through slotstream's single writer (positions allocated at commit), reads
 * come from a per-owner cache that the reader invalidates as it decodes the slot, and a long-poll wakes on
 * any change to an owner's todos. One process plays both roles here; in a deployment the writer runs once
 * and every reader process has its own slot.
 */

/** @typedef {import('./streams.js').Todo} Todo */
/** @typedef {Pick<Todo, 'id' | 'title' | 'done'>} TodoItem */

/**
 * @typedef {object} TodoServiceOptions
 * @property {string} connectionString
 * @property {string} slot the reader's logical slot (created when missing; it stays after close)
 * @property {string} [publication] default `todo`, as slotstream.config.js declares it
 */

/**
 * @typedef {object} TodoService
 * @property {(owner: string, title: string) => Promise<{ id: string, position: bigint }>} addTodo
 * @property {(id: string) => Promise<{ position: bigint }>} completeTodo
 * @property {(owner: string) => Promise<TodoItem[]>} listTodos cached; loaded from the database on a miss
 * @property {() => string} token where this reader is now, as the opaque string a client keeps
 * @property {(owner: string, since: string, timeoutMs: number, signal?: AbortSignal) => Promise<'updated' | 'timeout' | 'resync'>} waitForChange
 *   the long-poll: resolves once a change to `owner`'s todos after token `since` has been applied here;
 *   `signal` ends it early; close() ends it too (it rejects with NotifierClosedError)
 * @property {(position: bigint, timeoutMs: number) => Promise<bigint>} waitForPosition
 *   read-your-writes: resolves once this reader has applied the writer's `position`
 * @property {() => import('slotstream').CacheStats} cacheStats
 * @property {Promise<void>} done rejects if the reader stops on its own (a schema change, a lost server)
 * @property {() => Promise<void>} close
 */

/**
 * @param {TodoServiceOptions} options
 * @returns {Promise<TodoService>}
 */
export async function startTodoService(options) {
  const { connectionString, slot, publication = 'todo' } = options;
  // The service's own pool (knex's default, up to 10 connections) for the writer and the cache loads.
  const knex = knexFactory({ client: 'pg', connection: connectionString });
  const writer = new StreamWriter(knex);

  const rules = new CacheRules(new CacheRegistry());
  /** @type {import('slotstream').TupleCache<[owner: string], TodoItem[]>} */
  const todosForOwner = rules.define(
    'todosForOwner',
    { max: 10_000, keyLength: 1 },
    // Any change to a todo makes its owner's list stale. An old row without its owner (a table that is not
    // REPLICA IDENTITY FULL) could be anyone's: the empty prefix drops every list.
    on(todos, (u) => {
      const owner = (u.row ?? u.old).owner;
      return owner === undefined ? [[]] : [[owner]];
    }),
  );

  /** @type {StreamReader} */
  let reader;
  try {
    reader = await StreamReader.start({
      connectionString,
      slot,
      publication,
      streams: new StreamSet([todos]),
      caches: rules,
      onWarning: (error) => console.error(`warning: ${error.message}`),
    });
  } catch (error) {
    await knex.destroy();
    throw error;
  }

  return {
    async addTodo(owner, title) {
      const { value: id, position } = await writer.transaction((tx) => {
        const id = randomUUID();
        tx.insert(todos, { id, owner, title }); // `position` is filled in at commit
        return id;
      });
      return { id, position };
    },

    async completeTodo(id) {
      const { position } = await writer.transaction(async (tx) => {
        /** @type {Pick<Todo, 'owner' | 'title'> | undefined} */
        const row = await tx.knex('todos').where({ id }).forUpdate().first('owner', 'title');
        if (row === undefined) throw new Error(`no todo ${id}`);
        // An upsert through the writer, so the row moves to a new position and readers see an update there
        // (an UPDATE through tx.knex would keep the old position: caches would drop it, waiters would not wake).
        tx.insert(todos, { id, owner: row.owner, title: row.title, done: true }, { onConflict: ['id'] });
      });
      return { position };
    },

    listTodos(owner) {
      return todosForOwner.getOrLoad([owner], async () => {
        /** @type {Array<{ id: string, title: string, done: boolean }>} */
        const rows = await knex('todos').where({ owner }).orderBy('position').select('id', 'title', 'done');
        return rows.map(({ id, title, done }) => ({ id, title, done }));
      });
    },

    token: () => encodeToken(reader.token),

    waitForChange: (owner, since, timeoutMs, signal) =>
      reader.wait({ keys: [owner], since: decodeToken(since), timeoutMs, signal }),

    waitForPosition: (position, timeoutMs) => reader.waitForPosition(position, timeoutMs),

    cacheStats: () => todosForOwner.stats,

    done: reader.done,

    async close() {
      try {
        await reader.close(); // acknowledges what it applied; the slot stays for the next start
      } finally {
        await knex.destroy();
      }
    },
  };
}
