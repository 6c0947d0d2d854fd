/**
 * `npm start`: the whole loop once, against DATABASE_URL. Migrates (slotstream's schema, ./migrations,
 * publication `todo`), starts the service on a slot (argv[2], else TODO_SLOT, else `todo_demo`), reads
 * alice's list twice (a load, then a cache hit), starts a long-poll on alice, adds a todo through the
 * writer, and shows the long-poll woke and the cached list was invalidated and now holds the new todo; then
 * completes it and reads its own write. Progress goes to stderr; one JSON line of results to stdout.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory from 'knex';
import { knexConfig, migrateSlotstream, publishTables, streamTables } from 'slotstream/migrations';
import { startTodoService } from './service.js';
import config from './slotstream.config.js';

const OWNER = 'alice';
const TIMEOUT_MS = 15_000;
const here = path.dirname(fileURLToPath(import.meta.url));

const url = process.env.DATABASE_URL;
if (!url) {
  console.error(
    'error: DATABASE_URL is not set. Point it at a PostgreSQL server with wal_level=logical, e.g.\n' +
      '  DATABASE_URL=postgres://postgres@localhost:5432/todo npm start',
  );
  process.exit(2);
}
const slot = process.argv[2] ?? process.env.TODO_SLOT ?? 'todo_demo';
const log = (/** @type {string} */ line) => console.error(line);

/** What `npx slotstream migrate` does, step by step with the service's own knex. */
async function migrate(/** @type {string} */ connectionString) {
  const db = knexFactory(knexConfig(connectionString));
  try {
    const own = await migrateSlotstream(db);
    // knex resolves a relative directory against the working directory; this one is beside demo.js.
    const directory = path.resolve(here, String(config.migrations?.directory ?? './migrations'));
    const [, mine] = await db.migrate.latest({ ...config.migrations, directory });
    const publication = config.publication ?? 'slotstream';
    const change = await publishTables(db, streamTables(config.streams ?? []), publication);
    log(
      `migrated: slotstream [${own.join(', ')}], project [${mine.join(', ')}], publication ${publication}` +
        (change.created
          ? ' created'
          : change.added.length > 0
            ? ` + ${change.added.join(', ')}`
            : ' as it was'),
    );
    return publication;
  } finally {
    await db.destroy();
  }
}

/** @param {boolean} ok @param {string} what */
function check(ok, what) {
  if (!ok) throw new Error(`demo check failed: ${what}`);
}

async function main() {
  const publication = await migrate(/** @type {string} */ (url));
  const service = await startTodoService({
    connectionString: /** @type {string} */ (url),
    slot,
    publication,
  });
  log(`reader on slot ${slot} (it stays after this run: \`npx slotstream slots drop ${slot}\` removes it)`);
  // Ends the long-poll at once when a step fails, before the reader is closed.
  const stop = new AbortController();
  try {
    const before = await service.listTodos(OWNER); // a miss: loaded from the database
    await service.listTodos(OWNER); // a hit
    const cacheHitsBeforeWrite = service.cacheStats().hits;

    // The long-poll a client would make with the token of its last read.
    const since = service.token();
    const waiting = service.waitForChange(OWNER, since, TIMEOUT_MS, stop.signal);
    waiting.catch(() => {}); // awaited below; if a step before fails, its abort is no news
    const title = `buy milk (${new Date().toISOString()})`;
    const added = await service.addTodo(OWNER, title);
    log(`added todo ${added.id} at position ${added.position}`);
    const woke = await waiting;
    check(woke === 'updated', `the long-poll on ${OWNER} resolved '${woke}', not 'updated'`);

    // Woken means applied: the reader invalidated alice's list before it advanced its position.
    const after = await service.listTodos(OWNER);
    check(
      after.some((t) => t.id === added.id && t.title === title && !t.done),
      'the list read after the write lacks the new todo: the cache was not invalidated',
    );
    check(after.length === before.length + 1, `expected ${before.length + 1} todos, read ${after.length}`);

    // Read-your-writes without a long-poll: wait for the writer's position, then read.
    const completed = await service.completeTodo(added.id);
    await service.waitForPosition(completed.position, TIMEOUT_MS);
    const done = (await service.listTodos(OWNER)).find((t) => t.id === added.id);
    check(done?.done === true, 'the completed todo is not done in the list read after its position');

    const stats = service.cacheStats();
    console.log(
      JSON.stringify({
        slot,
        woke,
        before,
        after,
        completed: done,
        position: completed.position.toString(),
        cacheHitsBeforeWrite,
        cache: { hits: stats.hits, misses: stats.misses, invalidations: stats.invalidations },
      }),
    );
  } finally {
    stop.abort();
    await service.close();
  }
}

try {
  await main();
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
