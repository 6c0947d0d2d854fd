import type pg from 'pg';
import type { CacheRegistry } from '../cache/registry.ts';
import { Notifier } from '../notifier/notifier.ts';
import { Backoff, sleep } from '../replication/backoff.ts';
import { connectSql } from '../replication/connect.ts';
import { PublicationError, SlotstreamError } from '../replication/errors.ts';
import type { ReplicationEvent, ResetEvent, SubscriptionStatus } from '../replication/events.ts';
import { formatLsn, type Lsn, ZERO_LSN } from '../replication/lsn.ts';
import { DEFAULT_PUBLICATION } from '../replication/names.ts';
import type { CommitMessage, LogicalMessage } from '../replication/pgoutput/types.ts';
import { checkPublication, PUBLISH_ACTIONS } from '../replication/preflight.ts';
import { type SubscribeOptions, type Subscription, subscribe } from '../replication/subscribe.ts';
import { checkStreamTables } from '../streams/catalog-check.ts';
import type { MessageStream, RowUpdate, StreamUpdate, TableUpdate } from '../streams/define.ts';
import { SchemaChangeError, StreamSchemaError } from '../streams/errors.ts';
import { missingPrivileges, PrivilegeError } from '../streams/privileges.ts';
import {
  type CacheInvalidation,
  COUNTS_PREFIX,
  cachesStream,
  POSITION_PREFIX,
  parsePositionMessage,
} from '../streams/protocol.ts';
import { readStreamHead, StreamHeadMissingError } from '../streams/stream-head.ts';
import type { StreamSet } from '../streams/stream-set.ts';
import type { StreamToken } from '../streams/token.ts';
import { applyCacheEffects } from './apply-caches.ts';
import type { CacheRules } from './cache-rules.ts';
import { ChangeTally, type IncompleteTransactionError } from './completeness.ts';
import { ServerWatch } from './server-watch.ts';
import { type StandbySnapshots, standbySnapshotsFor } from './standby-snapshots.ts';
import { DEFAULT_EFFECT_LIMITS, type EffectLimits, TransactionEffects } from './transaction-effects.ts';
import { VisibilityBarrier } from './visibility.ts';

export interface StreamWaitOptions {
  /** The client's keys: its user id and its rooms. */
  keys: readonly string[];
  /** Only updates after this token count, in either of its position spaces. */
  since: StreamToken;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** A reader without a fault for this long starts its fault delays over (StreamReaderOptions.faultRetry). */
const FAULT_QUIET_MS = 60_000;

export interface StreamReaderOptions {
  connectionString: string;
  /**
   * The primary, when `connectionString` is a hot standby (PostgreSQL 16+): while the reader connects, it
   * asks the primary to log a standby snapshot every 200 ms, without which creating its slot on the
   * standby waits for the primary's next running-transactions record (every 15 s; never while idle).
   * Ignored on a primary. Everything else the reader reads comes from `connectionString`.
   */
  primaryConnectionString?: string;
  slot: string;
  /** Default `slotstream`, the publication the migrations create. */
  publication?: string;
  streams: StreamSet;
  /** The caches this reader keeps and the rules that invalidate them. */
  caches?: CacheRules;
  /**
   * Called for every update, in commit order, before its transaction is applied and acknowledged; a
   * returned promise is awaited, so the slot never passes an update a handler has not finished. Delivery is
   * at-least-once: after a crash, or when a transaction is cut off mid-way, updates come again; a reset skips
   * what happened in between (a consumer that must see every row follows the table with a StreamCursor).
   */
  onUpdate?: (update: StreamUpdate) => void | Promise<void>;
  /** After a reset has flushed the caches and told waiters to resync. */
  onReset?: (event: ResetEvent) => void | Promise<void>;
  onStatus?: (status: SubscriptionStatus) => void;
  /**
   * The reader stopped applying: its publication is missing or incomplete, or a writer transaction arrived
   * with fewer changes than it made (see ReaderFault). Called again as the cause changes; the reset that
   * ends the fault goes to `onReset`. Without it, faults go to `onWarning`.
   */
  onFault?: (fault: ReaderFault) => void;
  /**
   * Problems that do not stop the reader: a malformed message under one of our prefixes; on a hot standby,
   * a slot to create without a primary to ask for a snapshot (StandbySnapshotError).
   */
  onWarning?: (error: Error) => void;
  limits?: Partial<EffectLimits>;
  /** Keys whose last update the notifier remembers (default 100,000). */
  maxTrackedKeys?: number;
  signal?: AbortSignal;
  /**
   * UNSAFE, for tests only: `false` applies each transaction as soon as it is decoded, without waiting for
   * new snapshots to see it (VisibilityBarrier), so a client can read a window, or a cache reload the old
   * rows, before its rows are visible: gaps and stale caches. Exists so a test can show the barrier is what
   * prevents them. Default true.
   */
  visibilityBarrier?: boolean;
  /**
   * How long the reader waits after a fault before it gives up its slot for a new one: doubling while faults
   * keep coming, so that a cause its checks cannot see costs a new slot (and emptied caches) now and then,
   * not one per transaction; back to the start after a minute without a fault. Default 1 s, doubling up to
   * 60 s.
   */
  faultRetry?: { initialMs?: number; maxMs?: number };
  /** Passed to the subscription: temporary slots, waiting for an active slot, backoff, settings, … */
  subscription?: Omit<SubscribeOptions, 'connectionString' | 'slot' | 'publication' | 'signal' | 'onStatus'>;
}

/**
 * Why a reader stopped applying. It does not apply or acknowledge what its slot delivers from then on, so
 * its position stays where its data is known whole; its caches were emptied; it waits for the publication
 * to cover every stream table again and then starts over on a new slot, at the database's head (a reset:
 * what the old slot decoded meanwhile lacks the skipped rows for good).
 */
export type ReaderFault =
  /** The publication is missing, lacks a stream table, or does not publish an action: run `slotstream migrate`. */
  | { kind: 'publication'; error: PublicationError; since: Date }
  /** A writer transaction arrived with fewer changes than it made, though the publication now looks whole. */
  | { kind: 'incomplete'; error: IncompleteTransactionError; since: Date };

/** Plain numbers for /health and /metrics. Counters only rise. */
export interface StreamReaderStats {
  slot: string;
  position: bigint;
  ephemeralPosition: bigint;
  /** End LSN of the last transaction applied (what the slot is acknowledged up to). */
  appliedLsn: Lsn;
  /** Highest WAL position heard from the server (data or keepalive). */
  receivedLsn: Lsn;
  /** What the slot is confirmed up to: applied transactions, or the server's end when idle and caught up. */
  confirmedLsn: Lsn;
  /** Commit time of the last transaction applied. */
  lastCommitTime: Date | undefined;
  transactions: number;
  /** Updates applied per stream. */
  updates: Record<string, number>;
  /** Per stream, the highest position of its rows applied. */
  streamPositions: Record<string, bigint>;
  /** Transactions whose invalidations or wake-ups exceeded a cap and were widened to "everything". */
  coalesced: number;
  resets: number;
  /** Times the server turned out to be another one (restarted, failed over): the caches were emptied. */
  serverChanges: number;
  reconnects: number;
  /** On a hot standby: snapshots the primary was asked to log while the reader connected. */
  standbySnapshots: number;
  /** Writer transactions whose change counts were checked against what arrived (completeness.ts). */
  checkedTransactions: number;
  /** Times the reader stopped applying on a fault (ReaderFault); each ends with a reset. */
  faults: number;
  /** What the current fault is, when there is one (its error's message). */
  fault: string | undefined;
  /** How long the last fault waited before its slot was given up (`faultRetry`); 0 before any fault. */
  faultDelayMs: number;
  /** Transactions decoded before new snapshots could see them, held back by the visibility barrier. */
  barrierWaits: number;
  /** Snapshots the visibility barrier failed to take (each retried, and reported to `onWarning`). */
  barrierErrors: number;
}

/**
 * The reader runtime: decodes its slot into stream updates and applies each transaction as one unit, in
 * the order docs/design.md gives — caches invalidated, then the position advanced, then waiters woken, then the
 * slot acknowledged — so no client can see a position whose invalidations are still to come (no stale cache).
 * A transaction is applied only once new snapshots see it (VisibilityBarrier): decoding can run ahead of
 * the commit becoming visible, and applying early would let a reload re-cache the old rows.
 *
 * Positions (docs/positions.md): the writer allocates them in commit order, so "applied up to P" is the
 * highest position applied, with nothing missing below it. The reader starts at the highest committed
 * position, read once its slot exists: everything committed later is still to be decoded, and caches start
 * empty, so nothing it reports can be stale.
 *
 * @example
 * ```ts
 * import { StreamReader, StreamSet } from 'slotstream';
 * await using reader = await StreamReader.start({
 *   connectionString, slot: 'reader_1', streams: new StreamSet([todos]), caches: rules,
 * });
 * const woke = await reader.wait({ keys: ['alice'], since: reader.token, timeoutMs: 30_000 }); // a long-poll
 * await reader.waitForPosition(position, 5_000); // read your writes: a position writer.transaction returned
 * ```
 */
export class StreamReader implements AsyncDisposable {
  readonly slot: string;
  /** Wakes waiters: on the ordered streams' position, and on the ephemeral one (typing). */
  readonly notifier: Notifier;
  /** Settles when the reader stops: resolves after close(), rejects with what stopped it otherwise. */
  readonly done: Promise<void>;
  readonly #options: StreamReaderOptions;
  readonly #streams: StreamSet;
  readonly #caches: CacheRegistry | undefined;
  readonly #sub: Subscription;
  readonly #effects: TransactionEffects;
  #position = 0n;
  #ephemeralPosition = 0n;
  #appliedLsn: Lsn = ZERO_LSN;
  #lastCommitTime: Date | undefined;
  #transactions = 0;
  readonly #updates = new Map<string, number>();
  readonly #streamPositions = new Map<string, bigint>();
  #resets = 0;
  #serverChanges = 0;
  readonly #tally: ChangeTally;
  #fault: ReaderFault | undefined;
  #faults = 0;
  readonly #faultRetry: Backoff;
  #lastFaultAt = Number.NEGATIVE_INFINITY;
  #faultDelayMs = 0;
  /** Set once constructed: what start() wired into the subscription calls on every new session. */
  #server: ServerWatch | undefined;
  #closing = false;
  readonly #stop = new AbortController();
  readonly #stopSignal: AbortSignal;
  readonly #visibility: VisibilityBarrier;
  /** The commit LSN of the transaction being decoded (from its Begin), to say where a failure is. */
  #commitLsn: Lsn = ZERO_LSN;
  /** Hears of stream columns whose type changed to one still convertible (once per Relation message). */
  readonly #conversionWarn = (warning: Error) => this.#warn(warning);
  readonly #standbySnapshots: StandbySnapshots | undefined;

  private constructor(
    options: StreamReaderOptions,
    sub: Subscription,
    start: bigint,
    events: AsyncIterator<ReplicationEvent>,
    first: Promise<IteratorResult<ReplicationEvent>>,
    standbySnapshots: StandbySnapshots | undefined,
  ) {
    this.slot = options.slot;
    this.#standbySnapshots = standbySnapshots;
    this.#options = options;
    this.#streams = options.streams;
    this.#caches = options.caches?.registry;
    this.#sub = sub;
    this.#effects = new TransactionEffects({ ...DEFAULT_EFFECT_LIMITS, ...options.limits });
    this.#tally = new ChangeTally(options.streams);
    this.#faultRetry = new Backoff(
      options.faultRetry?.initialMs ?? 1_000,
      options.faultRetry?.maxMs ?? 60_000,
    );
    this.#stopSignal = options.signal
      ? AbortSignal.any([options.signal, this.#stop.signal])
      : this.#stop.signal;
    this.#visibility = new VisibilityBarrier(options.connectionString, this.#stopSignal, (error) => {
      this.#warn(error);
      // The server may be shutting down: its walsender would wait for us to confirm a transaction we cannot
      // apply until a snapshot shows it, and the shutdown with it. Let go; it comes again, filtered out.
      void this.#sub.interrupt();
    });
    this.#position = start;
    options.caches?.resetChanges(start); // nothing before the start was seen: "maybe changed"
    const maxKeys = options.maxTrackedKeys ?? 100_000;
    this.notifier = new Notifier({ position: start, maxKeys });
    this.done = this.#run(events, first);
    // Handled here so a failure is never an unhandled rejection; callers still see it by awaiting `done`.
    this.done.catch(() => {});
  }

  /**
   * Checks the stream tables against their declarations, subscribes, and resolves once the server has
   * accepted the replication stream and the starting position is known. Rejects with the error that
   * prevents it (a schema mismatch, a slot in use, a server that refuses).
   */
  static async start(options: StreamReaderOptions): Promise<StreamReader> {
    const publication = options.publication ?? DEFAULT_PUBLICATION;
    const client = await connectSql({ connectionString: options.connectionString });
    let standbySnapshots: StandbySnapshots | undefined;
    try {
      await checkCoverage(client, publication, options);
      const conversions = await checkStreamTables(client, publication, options.streams.tables);
      for (const warning of conversions) warn(options, warning);
      // Before the slot exists: a reader that cannot read stream_head would die just after creating it.
      const missing = await missingPrivileges((sql) => client.query(sql), 'reader', options.streams.streams);
      if (missing.length > 0) throw new PrivilegeError('reader', missing);
      standbySnapshots = await standbySnapshotsFor(client, options, (error) => warn(options, error));
    } finally {
      await client.end();
    }
    let connected!: () => void;
    const isConnected = new Promise<void>((resolve) => {
      connected = resolve;
    });
    let reader: StreamReader | undefined;
    const sub = subscribe({
      ...options.subscription,
      connectionString: options.connectionString,
      slot: options.slot,
      publication,
      // Checked on every connection, so that a slot given up after a fault is recreated only once repaired.
      tables: tablesOf(options),
      publish: PUBLISH_ACTIONS,
      signal: options.signal,
      onStatus: (status) => {
        standbySnapshots?.follow(status);
        if (reader && status.event === 'reconnecting' && status.error instanceof PublicationError)
          reader.#raise({ kind: 'publication', error: status.error, since: new Date() });
        if (status.event === 'connected') {
          connected();
          if (reader) reader.#sessionStarted();
        }
        options.onStatus?.(status);
      },
    });
    const events = sub[Symbol.asyncIterator]();
    standbySnapshots?.resume(); // until connected: the first connection may create the slot
    // Pulling the first event is what connects; it settles only when an event arrives (or on failure).
    const first = events.next();
    try {
      await Promise.race([isConnected, first.then(() => {})]);
      // Read only now: with the slot in place, every transaction committed after this read gets decoded.
      const start = await readHead(options.connectionString);
      const server = new ServerWatch(options.connectionString);
      await server.changed(); // which server this is, for the next session to compare with
      reader = new StreamReader(options, sub, start, events, first, standbySnapshots);
      reader.#server = server;
      return reader;
    } catch (error) {
      await sub.close();
      await standbySnapshots?.close();
      throw error;
    }
  }

  /** The highest writer position applied: everything at or below it is applied (docs/positions.md). */
  get position(): bigint {
    return this.#position;
  }

  /** The LSN of the last non-transactional message applied (typing): the token's second part. */
  get ephemeralPosition(): bigint {
    return this.#ephemeralPosition;
  }

  /** The token of everything this reader has applied: valid on every reader. */
  get token(): StreamToken {
    return { position: this.#position, ephemeral: this.#ephemeralPosition };
  }

  /** The registry of the caches given as `options.caches`, if any. */
  get caches(): CacheRegistry | undefined {
    return this.#caches;
  }

  /** Why the reader stopped applying, while it waits for a repair and the reset after it (ReaderFault). */
  get fault(): ReaderFault | undefined {
    return this.#fault;
  }

  /** A snapshot of positions, lag and counters: a new object each time. */
  get stats(): StreamReaderStats {
    return {
      slot: this.slot,
      position: this.#position,
      ephemeralPosition: this.#ephemeralPosition,
      appliedLsn: this.#appliedLsn,
      receivedLsn: this.#sub.position.received,
      confirmedLsn: this.#sub.position.flushed,
      lastCommitTime: this.#lastCommitTime,
      transactions: this.#transactions,
      updates: Object.fromEntries(this.#updates),
      streamPositions: Object.fromEntries(this.#streamPositions),
      coalesced: this.#effects.coalesced,
      resets: this.#resets,
      serverChanges: this.#serverChanges,
      reconnects: this.#sub.reconnects,
      standbySnapshots: this.#standbySnapshots?.logged ?? 0,
      checkedTransactions: this.#tally.checked,
      faults: this.#faults,
      faultDelayMs: this.#faultDelayMs,
      fault: this.#fault?.error.message,
      barrierWaits: this.#visibility.waits,
      barrierErrors: this.#visibility.errors,
    };
  }

  /**
   * Waits for an update relevant to `keys` after `since`, in either position space. Resolves 'updated',
   * 'timeout' or 'resync' (a reset: the client must start over); rejects if `signal` aborts.
   */
  async wait(options: StreamWaitOptions): Promise<'updated' | 'timeout' | 'resync'> {
    const { keys, since, timeoutMs, signal } = options;
    const result = await this.notifier.wait({
      keys,
      after: since.position,
      afterEphemeral: since.ephemeral,
      timeoutMs,
      signal,
    });
    return result.kind;
  }

  /** Read-your-writes: resolves once this reader has applied writer position `position`. */
  waitForPosition(position: bigint, timeoutMs: number, signal?: AbortSignal): Promise<bigint> {
    return this.notifier.waitForPosition(position, timeoutMs, signal);
  }

  /**
   * Stops decoding, reports the last acknowledgement to the server and closes the slot's connection.
   * Pending `wait` and `waitForPosition` calls reject with NotifierClosedError (as they do when the reader
   * stops on a failure): nothing here would wake them any more.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#stop.abort(new SlotstreamError('reader closed'));
    this.notifier.close();
    await this.#sub.close();
    await this.done.catch(() => {});
    await this.#visibility.close();
    await this.#standbySnapshots?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #run(
    events: AsyncIterator<ReplicationEvent>,
    first: Promise<IteratorResult<ReplicationEvent>>,
  ): Promise<void> {
    try {
      let next = await first;
      while (!next.done) {
        await this.#handle(next.value);
        next = await events.next();
      }
    } catch (error) {
      if (this.#closing) return;
      this.notifier.close();
      await this.#sub.close();
      await this.#visibility.close();
      await this.#standbySnapshots?.close();
      if (error instanceof StreamSchemaError) {
        // The commit LSN, not the change's: pgoutput sends a Relation message without a WAL position.
        throw new SchemaChangeError(this.slot, formatLsn(this.#commitLsn), this.#effects.xid, error);
      }
      throw error;
    } finally {
      // The subscription removes its spool files and directory when its iteration ends; after a handler's
      // error nothing would pull it again, so end it here.
      await events.return?.().catch(() => {});
    }
  }

  async #handle(event: ReplicationEvent): Promise<void> {
    const effects = this.#effects;
    // Faulted: nothing the old slot delivers is applied or acknowledged, until the reset of its successor.
    if (this.#fault !== undefined && event.tag !== 'reset') return;
    switch (event.tag) {
      case 'begin':
        effects.clear();
        this.#tally.clear();
        effects.xid = event.xid;
        this.#commitLsn = event.finalLsn;
        return;
      case 'incomplete':
        effects.clear();
        this.#tally.clear();
        return;
      case 'relation':
        this.#streams.streamOf(event.relation, this.#conversionWarn); // a changed table fails here, named
        return;
      case 'insert':
      case 'update':
      case 'delete': {
        const update = this.#streams.toUpdate(event, this.#conversionWarn);
        this.#tally.saw(event.relation);
        if (update !== undefined) await this.#tableUpdate(update);
        return;
      }
      case 'truncate':
        for (const relation of event.relations) {
          this.#tally.saw(relation);
          const stream = this.#streams.streamOf(relation, this.#conversionWarn);
          if (stream === undefined) continue;
          await this.#tableUpdate({
            stream: stream.name,
            op: 'truncate',
            position: this.#position,
            row: null,
            old: null,
          });
        }
        return;
      case 'message':
        if (event.transactional) await this.#transactionalMessage(event);
        else await this.#ephemeralMessage(event);
        return;
      case 'commit': {
        const incomplete = this.#tally.check(event, effects.xid, this.#sub.publication);
        if (incomplete !== undefined) return this.#incomplete(incomplete);
        // A transaction that changes nothing here (other tables only) need not wait to be visible.
        if (this.#options.visibilityBarrier !== false && effects.xid !== undefined && !effects.isEmpty)
          await this.#visibility.waitVisible(effects.xid);
        this.#apply(event);
        return;
      }
      case 'reset':
        await this.#reset(event);
        return;
      case 'origin':
      case 'type':
        return;
    }
  }

  async #tableUpdate(update: TableUpdate): Promise<void> {
    const effects = this.#effects;
    const rules = this.#options.caches?.rulesFor(update.stream) ?? [];
    const updaters = this.#options.caches?.updatersFor(update.stream) ?? [];
    const changeRules = this.#options.caches?.changeRulesFor(update.stream) ?? [];
    if (update.op === 'truncate') {
      for (const { cache } of rules) effects.invalidate(cache, null);
      for (const { cache } of updaters) effects.invalidate(cache, null);
      for (const { cache } of changeRules) effects.changed(cache, null);
      effects.wakeEveryone();
      effects.sawUpdate(update.stream);
    } else {
      for (const { cache, rule } of rules)
        for (const key of rule.keys(update)) effects.invalidate(cache, key);
      for (const updater of updaters)
        for (const prefix of updater.keys(update)) effects.update(updater, prefix, update);
      for (const { cache, rule } of changeRules)
        for (const entity of rule.keys(update)) effects.changed(cache, entity);
      for (const key of this.#keysOf(update)) effects.wake(key);
      effects.sawRow(update.stream, update.position);
    }
    await this.#options.onUpdate?.(update);
  }

  #keysOf(update: RowUpdate): Iterable<string> {
    const stream = this.#streams.table(update.stream);
    return stream === undefined ? [] : stream.keys(update);
  }

  async #transactionalMessage(message: LogicalMessage): Promise<void> {
    const effects = this.#effects;
    if (message.prefix === COUNTS_PREFIX) {
      try {
        this.#tally.announced(message.content);
      } catch (error) {
        this.#warn(error);
      }
      return;
    }
    if (message.prefix === POSITION_PREFIX) {
      try {
        effects.announced = parsePositionMessage(message.content);
      } catch (error) {
        this.#warn(error);
      }
      return;
    }
    // The runtime's own stream: every reader applies explicit invalidations, declared or not.
    const explicit = message.prefix === cachesStream.prefix;
    const stream: MessageStream | undefined = explicit
      ? (cachesStream as MessageStream)
      : this.#streams.byPrefix(message.prefix);
    if (stream === undefined || !stream.transactional) return;
    let row: unknown;
    try {
      row = stream.parse(message.content);
    } catch (error) {
      this.#warn(error);
      // An invalidation we cannot read might have covered anything: drop everything rather than serve stale.
      if (explicit) for (const name of this.#caches?.names ?? []) effects.invalidate(name, null);
      return;
    }
    if (explicit) {
      const { cache, keys } = row as CacheInvalidation;
      effects.invalidate(cache, keys);
    }
    for (const key of stream.keys(row)) effects.wake(key);
    effects.sawUpdate(stream.name);
    await this.#options.onUpdate?.({
      stream: stream.name,
      op: 'message',
      position: this.#position,
      row,
      old: null,
    });
  }

  /** Non-transactional: applied at once, at its LSN, in the ephemeral position space. */
  async #ephemeralMessage(message: LogicalMessage): Promise<void> {
    const stream = this.#streams.byPrefix(message.prefix);
    if (stream === undefined || stream.transactional) return;
    let row: unknown;
    try {
      row = stream.parse(message.content);
    } catch (error) {
      this.#warn(error);
      return;
    }
    const update: StreamUpdate = {
      stream: stream.name,
      op: 'message',
      position: message.lsn,
      row,
      old: null,
    };
    this.#count(stream.name);
    await this.#options.onUpdate?.(update);
    if (message.lsn > this.#ephemeralPosition) this.#ephemeralPosition = message.lsn;
    this.notifier.notifyEphemeral(stream.keys(row), message.lsn);
  }

  /** Applies a committed transaction: caches, then position, then waiters, then the acknowledgement. */
  #apply(commit: CommitMessage): void {
    const effects = this.#effects;
    if (this.#caches !== undefined) applyCacheEffects(this.#caches, effects, (error) => this.#warn(error));
    const position = effects.position;
    // Change caches too before the position moves: a client that sees it must find every change up to it.
    const changedAt = position ?? this.#position;
    for (const [cache, pending] of effects.changes) {
      if (pending.all) cache.reset(changedAt);
      else for (const entity of pending.keys.keys()) cache.entityChanged(entity, changedAt);
    }
    const advanced = position !== undefined && position > this.#position;
    if (advanced) this.#position = position;
    for (const [stream, seen] of effects.streams) {
      this.#count(stream, seen.updates);
      const known = this.#streamPositions.get(stream);
      if (seen.position !== undefined && (known === undefined || seen.position > known)) {
        this.#streamPositions.set(stream, seen.position);
      }
    }
    // A transaction at or below the applied position (a redelivery, or a change made without the writer)
    // has no new position a waiter's token could be below: its invalidations above are all it needs.
    if (advanced) {
      if (effects.wakeAll) this.notifier.notifyAll(position);
      else this.notifier.notify(effects.wakeKeys, position);
    }
    this.#transactions++;
    this.#appliedLsn = commit.endLsn;
    this.#lastCommitTime = commit.commitTime;
    effects.clear();
    this.#sub.ack(commit);
  }

  /**
   * A reset: caches flushed and waiters told to resync before anything else can fail, then the position
   * moved to the database's head (the new slot starts there; nothing below it will be decoded again).
   */
  async #reset(event: ResetEvent): Promise<void> {
    this.#effects.clear();
    this.#tally.clear();
    this.#caches?.invalidateAll();
    this.notifier.resync(this.#position, this.#ephemeralPosition);
    const head = await this.#readHeadRetrying();
    // Before the position moves to the head: what changed below it is unknown, so "maybe changed".
    this.#options.caches?.resetChanges(head);
    if (head > this.#position) {
      // Whatever happened between the old position and the head is unknown: every key counts as changed.
      this.#position = head;
      this.notifier.notifyAll(head);
    }
    // Only now, with the position at the head, is the reset done, and a fault it ends over: the new slot
    // was created once the publication passed the subscription's checks. Caches may store again.
    this.#fault = undefined;
    this.#caches?.resume();
    this.#resets++;
    await this.#options.onReset?.(event);
  }

  /**
   * A writer transaction arrived incomplete: not applied, and the slot given up. The publication is looked
   * at to name the cause; the subscription then waits for it to pass its checks before a new slot takes over.
   */
  async #incomplete(error: IncompleteTransactionError): Promise<void> {
    let fault: ReaderFault = { kind: 'incomplete', error, since: new Date() };
    try {
      const client = await connectSql({ connectionString: this.#options.connectionString });
      try {
        await checkCoverage(client, this.#sub.publication, this.#options);
      } finally {
        await client.end();
      }
    } catch (cause) {
      if (cause instanceof PublicationError)
        fault = { kind: 'publication', error: cause, since: fault.since };
      // Otherwise the server is out of reach: the subscription's checks will name the cause when it is back.
    }
    this.#raise(fault);
    const now = Date.now();
    if (now - this.#lastFaultAt > FAULT_QUIET_MS) this.#faultRetry.reset();
    this.#lastFaultAt = now;
    this.#faultDelayMs = this.#faultRetry.next();
    // Closing ends the wait early; the resync then only ends a subscription that is closing anyway.
    await sleep(this.#faultDelayMs, this.#stopSignal).catch(() => {});
    this.#sub.resync();
  }

  /**
   * Stops applying (or names the fault's cause anew): the caches are emptied and store nothing until the
   * reset that ends the fault, since nothing would invalidate what they held while the reader applies
   * nothing; reads meanwhile go to the database.
   */
  #raise(fault: ReaderFault): void {
    if (this.#fault === undefined) {
      this.#faults++;
      this.#caches?.suspend();
    } else fault.since = this.#fault.since;
    this.#fault = fault;
    if (this.#options.onFault) this.#options.onFault(fault);
    else this.#warn(fault.error);
  }

  /**
   * A new replication session began: if the server is another one than before (restarted, failed over),
   * it may have taken back commits whose values the caches hold; empty them (server-watch.ts).
   */
  #sessionStarted(): void {
    this.#server?.changed().then(
      (changed) => {
        if (!changed) return;
        this.#caches?.invalidateAll();
        this.#serverChanges++;
        this.#warn(
          new SlotstreamError(
            'the database server restarted or failed over: every cache was emptied, since values read before ' +
              'may be of commits it no longer has',
          ),
        );
      },
      (error: unknown) => this.#warn(error),
    );
  }

  /** The head after a reset; the server may be restarting just then, so keep trying until closed. */
  async #readHeadRetrying(): Promise<bigint> {
    const backoff = new Backoff(100, 5_000);
    for (;;) {
      try {
        return await readHead(this.#options.connectionString);
      } catch (error) {
        if (error instanceof StreamHeadMissingError) throw error; // retrying cannot help
        await sleep(backoff.next(), this.#stopSignal);
      }
    }
  }

  #count(stream: string, updates = 1): void {
    this.#updates.set(stream, (this.#updates.get(stream) ?? 0) + updates);
  }

  #warn(error: unknown): void {
    warn(this.#options, error);
  }
}

/** To `options.onWarning`, else to the process's warnings. */
function warn(options: StreamReaderOptions, error: unknown): void {
  const warning = error instanceof Error ? error : new SlotstreamError(String(error));
  if (options.onWarning) options.onWarning(warning);
  else process.emitWarning(warning);
}

/** The tables the publication must cover for this reader: its table streams'. */
function tablesOf(options: StreamReaderOptions): string[] {
  return options.streams.tables.map((stream) => stream.qualifiedName);
}

/** Whether the publication covers the reader's tables and publishes every action; PublicationError if not. */
function checkCoverage(client: pg.Client, publication: string, options: StreamReaderOptions): Promise<void> {
  return checkPublication(client, { publication, tables: tablesOf(options), publish: PUBLISH_ACTIONS });
}

async function readHead(connectionString: string): Promise<bigint> {
  const client = await connectSql({ connectionString });
  try {
    return await readStreamHead((sql) => client.query(sql));
  } finally {
    await client.end();
  }
}
