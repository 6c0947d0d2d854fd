import type pg from 'pg';
import { Backoff, sleep } from '../replication/backoff.ts';
import { classifyFailure } from '../replication/classify.ts';
import { connectSql } from '../replication/connect.ts';
import { SlotstreamError } from '../replication/errors.ts';
import type { ColumnSpecs, RowOf } from '../streams/columns.ts';
import type { TableStream } from '../streams/define.ts';
import { readStreamHead } from '../streams/stream-head.ts';
import { openCursor, storeCursor } from './cursor-table.ts';
import type { StreamReader } from './stream-reader.ts';
import { checkPositionIndex, readRows } from './stream-rows.ts';

export { CursorTableMissingError } from './cursor-table.ts';
export { PositionIndexMissingError } from './stream-rows.ts';

export interface StreamCursorOptions<C extends ColumnSpecs> {
  /** Where the stream's rows are read: the reader's server. */
  connectionString: string;
  /**
   * Where the cursor row is kept, when that is another server: a reader on a hot standby reads rows there
   * but keeps its cursor on the primary, since a standby is read-only. Default: `connectionString`.
   */
  cursorConnectionString?: string;
  /**
   * The reader whose applied position bounds what is read and whose progress wakes the cursor. Any reader
   * of the database will do, on any slot: the cursor needs its position, not its updates.
   */
  reader: Pick<StreamReader, 'position' | 'waitForPosition'>;
  stream: TableStream<C>;
  /** The cursor's row in `slotstream_cursors`. One consumer per name: two would each deliver every row. */
  name: string;
  /**
   * Delivers rows in position order; called again with the same rows, after a backoff, until it returns
   * without throwing. Should give up when `signal` aborts (the cursor is closing). A consumer that delivers
   * row by row can skip, on a retry, the rows it already delivered: positions only grow.
   */
  deliver: (rows: readonly RowOf<C>[], signal: AbortSignal) => void | Promise<void>;
  /**
   * Where a cursor that does not exist yet starts: after the highest committed position ('head', the
   * default: rows committed from now on), or after a given position (0n: every row in the table).
   */
  from?: 'head' | bigint;
  /** Rows per deliver() call at most; default 100. */
  batchSize?: number;
  /** Delays between attempts, doubling from `initialMs` (default 100) up to `maxMs` (default 10,000). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** A failure about to be retried after `delayMs`: deliver() threw, or the database was unreachable. */
  onRetry?: (retry: { error: unknown; delayMs: number; during: 'deliver' | 'database' }) => void;
  /** Stops the cursor as close() does, except that `done` rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Plain numbers for metrics. Counters only rise. */
export interface StreamCursorStats {
  name: string;
  /** Everything of the stream at or below this position was delivered (stored once rows were). */
  cursor: bigint;
  /** Positions the reader has applied that the cursor has not passed yet. */
  lag: bigint;
  /** Rows deliver() accepted (a row delivered again after a restart counts again). */
  delivered: number;
  /** deliver() calls that threw and were retried. */
  retries: number;
  /** Database failures (reading rows, storing the cursor) retried on a new connection. */
  reconnects: number;
}

/**
 * An option the cursor cannot work with; raised by `StreamCursor.start` before it connects.
 *
 * @example
 * ```ts
 * import { StreamCursor } from 'slotstream';
 * await StreamCursor.start({ ...options, batchSize: 0 }); // rejects with StreamCursorOptionError
 * ```
 */
export class StreamCursorOptionError extends SlotstreamError {
  constructor(
    readonly option: string,
    detail: string,
  ) {
    super(`StreamCursor option ${option}: ${detail}`);
  }
}

/**
 * Delivers every row of a table stream, in position order, at least once — for a consumer that must see
 * every row (a pusher, a webhook, a sink), as Synapse's pushers do: the slot only says *when* to look, the
 * stream table says *what* there is, and the consumer's own cursor (a row in `slotstream_cursors`) says
 * how far it got.
 *
 * Each round reads the rows with a position above the cursor and at or below `reader.position`, hands them
 * to `deliver`, and only then stores the cursor; then it waits for the reader to apply a later position.
 * Bounding the read by what the reader applied is what makes it gap-free: positions are allocated in commit
 * order and the reader applies a transaction only once new snapshots see it, so every row at or below that
 * position can be read now and none can appear there later (docs/positions.md). Above it, a read could
 * deliver a commit that is visible but not yet flushed (the writer commits asynchronously: a crash can take
 * the row back and give its position to another), or, for rows written outside the writer, see a position
 * before a lower one is visible and move the cursor past that row for good.
 *
 * What that gives:
 * - **Nothing lost, whatever happened to the slot.** The reader acknowledges its slot at once, so a slow or
 *   failing consumer pins no WAL; after a restart, a reset (slot lost, dropped, or gone in a failover) or a
 *   consumer outage, the cursor catches up from the table, since the reader's position always ends above it.
 * - **At least once.** The cursor is stored after `deliver` returns, in a transaction of its own: a crash
 *   in between delivers the batch again. Deduplicate downstream (by the row's key) if it matters.
 * - **The rows as they are when read.** A row updated later gets a new position and is delivered again;
 *   one updated before it was delivered is delivered once, as it is then; one deleted before delivery is
 *   not delivered at all. A change that leaves a row's position alone is not seen.
 *
 * The stream's table needs an index leading with its position column (StreamCursor.start checks), and the
 * `slotstream_cursors` table from slotstream's migrations.
 *
 * @example
 * ```ts
 * import { StreamCursor } from 'slotstream';
 * await using cursor = await StreamCursor.start({
 *   connectionString, reader, stream: todos, name: 'todo_webhook',
 *   deliver: async (rows, signal) => {
 *     const body = JSON.stringify(rows.map((todo) => ({ ...todo, position: String(todo.position) })));
 *     const res = await fetch(hookUrl, { method: 'POST', body, signal });
 *     if (!res.ok) throw new Error(`webhook answered ${res.status}`); // retried with backoff
 *   },
 * });
 * console.log(cursor.stats.lag); // positions applied by the reader and not yet delivered
 * ```
 */
export class StreamCursor<C extends ColumnSpecs = ColumnSpecs> implements AsyncDisposable {
  readonly name: string;
  /** Settles when the cursor stops: resolves after close(), rejects with what stopped it otherwise. */
  readonly done: Promise<void>;
  readonly #options: StreamCursorOptions<C>;
  readonly #batchSize: number;
  readonly #stop = new AbortController();
  readonly #signal: AbortSignal;
  readonly #rows: CursorSession;
  /** The same session as #rows unless the cursor is kept on another server. */
  readonly #store: CursorSession;
  #cursor: bigint;
  #delivered = 0;
  #retries = 0;
  #reconnects = 0;
  #closing = false;

  private constructor(
    options: StreamCursorOptions<C>,
    batchSize: number,
    sessions: { rows: CursorSession; store: CursorSession },
    cursor: bigint,
  ) {
    this.name = options.name;
    this.#options = options;
    this.#batchSize = batchSize;
    this.#rows = sessions.rows;
    this.#store = sessions.store;
    this.#cursor = cursor;
    this.#signal = options.signal ? AbortSignal.any([options.signal, this.#stop.signal]) : this.#stop.signal;
    // A query cannot be aborted: ending the connection is what cuts one short when the cursor is closed.
    this.#signal.addEventListener('abort', () => void this.#disconnect(), { once: true });
    this.done = this.#run();
    // Handled here so a failure is never an unhandled rejection; callers still see it by awaiting `done`.
    this.done.catch(() => {});
  }

  /**
   * Checks the stream's table (it exists, its position column is indexed), opens the cursor (creating it at
   * `from` if new) and starts delivering. Rejects with StreamSchemaError, PositionIndexMissingError,
   * CursorTableMissingError, StreamCursorOptionError, or the server's error.
   */
  static async start<C extends ColumnSpecs>(options: StreamCursorOptions<C>): Promise<StreamCursor<C>> {
    const batchSize = options.batchSize ?? 100;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1)
      throw new StreamCursorOptionError(
        'batchSize',
        `expected a whole number of rows above 0, got ${batchSize}`,
      );
    if (options.name === '') throw new StreamCursorOptionError('name', 'a cursor needs a name');
    const rows = new CursorSession(options.connectionString, options.name);
    const store =
      options.cursorConnectionString === undefined ||
      options.cursorConnectionString === options.connectionString
        ? rows
        : new CursorSession(options.cursorConnectionString, options.name);
    try {
      const client = await rows.client();
      await checkPositionIndex(client, options.stream);
      const from = options.from ?? 'head';
      const initial = from === 'head' ? await readStreamHead((sql) => client.query(sql)) : from;
      const cursor = await openCursor(await store.client(), options.name, initial);
      return new StreamCursor(options, batchSize, { rows, store }, cursor);
    } catch (error) {
      await Promise.all([rows.end(), store.end()]);
      throw error;
    }
  }

  /** Where the cursor is: everything of the stream at or below it was delivered. */
  get position(): bigint {
    return this.#cursor;
  }

  /** A snapshot of the cursor, its lag and its counters: a new object each time. */
  get stats(): StreamCursorStats {
    const lag = this.#options.reader.position - this.#cursor;
    return {
      name: this.name,
      cursor: this.#cursor,
      lag: lag > 0n ? lag : 0n,
      delivered: this.#delivered,
      retries: this.#retries,
      reconnects: this.#reconnects,
    };
  }

  /**
   * Stops: a deliver() in progress is told through its signal, and its rows come again on the next start
   * (the cursor was not stored for them). Closes the cursor's connection; the cursor row stays.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#stop.abort(new SlotstreamError('cursor closed'));
    await this.done.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #run(): Promise<void> {
    const { reader } = this.#options;
    try {
      for (;;) {
        const upto = reader.position;
        if (upto <= this.#cursor) {
          await reader.waitForPosition(this.#cursor + 1n, Number.POSITIVE_INFINITY, this.#signal);
          continue;
        }
        const rows = await this.#database(this.#rows, (client) =>
          readRows(client, this.#options.stream, this.#cursor, upto, this.#batchSize),
        );
        // A short batch holds every row up to `upto`; a full one ends at its last row (positions are unique
        // per row: the writer gives each its own).
        const last = rows.at(-1);
        const next = rows.length < this.#batchSize || last === undefined ? upto : this.#positionOf(last);
        if (last !== undefined) {
          await this.#deliver(rows);
          await this.#database(this.#store, (client) => storeCursor(client, this.name, next));
        }
        // Positions without rows of this stream (other streams' transactions) are passed in memory only:
        // reading them again after a restart costs one empty index scan, storing them a write per wake-up.
        this.#cursor = next;
      }
    } catch (error) {
      if (this.#closing) return;
      throw error;
    } finally {
      await this.#disconnect();
    }
  }

  #positionOf(row: RowOf<C>): bigint {
    return (row as Record<string, unknown>)[this.#options.stream.position] as bigint;
  }

  async #deliver(rows: readonly RowOf<C>[]): Promise<void> {
    const backoff = this.#backoff();
    for (;;) {
      this.#signal.throwIfAborted();
      try {
        await this.#options.deliver(rows, this.#signal);
        this.#delivered += rows.length;
        return;
      } catch (error) {
        if (this.#signal.aborted) throw this.#signal.reason;
        this.#retries++;
        await this.#retryAfter(backoff, error, 'deliver');
      }
    }
  }

  /**
   * Runs `work` on the cursor's connection, reconnecting with backoff while the server is unreachable
   * (a restart, a failover, a dropped connection). Any other error (a table dropped, a privilege revoked)
   * would only repeat: it stops the cursor.
   */
  async #database<T>(session: CursorSession, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const backoff = this.#backoff();
    for (;;) {
      this.#signal.throwIfAborted();
      try {
        return await work(await session.client());
      } catch (error) {
        if (this.#signal.aborted) throw this.#signal.reason;
        if (classifyFailure(error) !== 'retry') throw error;
        await session.end();
        this.#reconnects++;
        await this.#retryAfter(backoff, error, 'database');
      }
    }
  }

  #backoff(): Backoff {
    return new Backoff(this.#options.backoff?.initialMs ?? 100, this.#options.backoff?.maxMs ?? 10_000);
  }

  async #retryAfter(backoff: Backoff, error: unknown, during: 'deliver' | 'database'): Promise<void> {
    const delayMs = backoff.next();
    this.#options.onRetry?.({ error, delayMs, during });
    await sleep(delayMs, this.#signal);
  }

  async #disconnect(): Promise<void> {
    await Promise.all([this.#rows.end(), this.#store.end()]);
  }
}

/**
 * One of the cursor's sessions, connected on first use and again after end(); named after the cursor so
 * that pg_stat_activity tells the cursors apart.
 */
class CursorSession {
  #client: Promise<pg.Client> | undefined;

  constructor(
    readonly connectionString: string,
    readonly name: string,
  ) {}

  client(): Promise<pg.Client> {
    this.#client ??= connectSql({
      connectionString: this.connectionString,
      settings: { application_name: `slotstream cursor ${this.name}` },
    }).catch((error: unknown) => {
      this.#client = undefined;
      throw error;
    });
    return this.#client;
  }

  async end(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await (await client?.catch(() => undefined))?.end().catch(() => {});
  }
}
