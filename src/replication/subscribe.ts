import type pg from 'pg';
import { Backoff, sleep } from './backoff.ts';
import { activePidFrom, classifyFailure } from './classify.ts';
import { type ConnectionOptions, connectReplication, connectSql } from './connect.ts';
import {
  MalformedMessageError,
  PublicationError,
  ServerError,
  SlotElsewhereError,
  SlotInUseError,
  SlotstreamError,
  sqlState,
} from './errors.ts';
import { type ControlStep, DRAIN, EventIterator } from './event-iterator.ts';
import type { ReplicationEvent, ResetEvent, SubscriptionStatus } from './events.ts';
import { alterSlotFailover, slotFailover } from './failover.ts';
import { readBufferLimit } from './frame-queue.ts';
import { type Lsn, ZERO_LSN } from './lsn.ts';
import { validatePublicationName, validateSlotName } from './names.ts';
import type { CommitMessage } from './pgoutput/types.ts';
import { PositionTracker } from './positions.ts';
import { type PublishAction, preflight } from './preflight.ts';
import { serverVersionNum } from './server-version.ts';
import { ReplicationSession } from './session.ts';
import { type CreatedSlot, createSlot, dropSlot, getSlot, isLost, type SlotInfo } from './slots.ts';
import { createSpoolDirectory } from './spool.ts';
import { forkPoint, serverTimeline } from './timeline.ts';
import { TransactionAssembler } from './transaction-assembler.ts';
import { PRIMARY_KEEPALIVE, XLOG_DATA, XLOG_DATA_HEADER_LENGTH, xlogDataStart } from './wire.ts';

export type { IncompleteEvent, ReplicationEvent, ResetEvent, SubscriptionStatus } from './events.ts';

/** The highest pgoutput protocol we speak; the session uses the highest the server also speaks. */
const MAX_PROTO_VERSION = 4;

const NO_FRAMES: readonly Buffer[] = Object.freeze([]);

export interface SubscribeOptions extends ConnectionOptions {
  slot: string;
  publication: string;
  /** Tables the publication must cover (checked at start, a typed error if not). */
  tables?: readonly string[];
  /** Actions the publication must publish (checked like `tables`); default: not checked. */
  publish?: readonly PublishAction[];
  signal?: AbortSignal;
  /** A slot that disappears with its connection; every reconnect then starts afresh with a reset. */
  temporary?: boolean;
  /**
   * Whether the slot is a failover slot, synced to standbys so that a promoted standby has it and the
   * reader continues instead of resetting (PostgreSQL 17+; the standbys need sync_replication_slots, see
   * `slotstream doctor`). Default: on where the server can (17+, a primary, not temporary). An existing slot
   * is altered to match when taken. `true` where the server cannot is a FailoverUnsupportedError before
   * anything is created.
   */
  failover?: boolean;
  /** When another process holds the slot: fail at once (default) or wait for it to let go. */
  ifSlotActive?: 'error' | 'wait';
  /**
   * Called when this subscription creates its slot, with the name of a snapshot of the database exactly at
   * the slot's start (`SET TRANSACTION SNAPSHOT` in a REPEATABLE READ transaction): an initial read that
   * the stream continues without gap or overlap. The snapshot lives until the callback returns.
   */
  onSlotCreated?: (slot: CreatedSlot) => void | Promise<void>;
  /** Upper bound on the pgoutput protocol version (1–4). */
  maxProtoVersion?: number;
  /**
   * Where streamed transactions wait for their commit (default: the OS temporary directory). Point it at
   * a disk when that is a small tmpfs: a spooled transaction can be as big as the transaction.
   */
  spoolDirectory?: string;
  /** Bound on the wait for running transactions when creating the slot. */
  slotCreationTimeoutMs?: number;
  /** Milliseconds between acknowledgement and its report to the server (batched). */
  ackReportDelayMs?: number;
  /**
   * Bytes of received messages held for the consumer (default 4 MiB). At this bound the subscription stops
   * reading from the server until the consumer catches up, and TCP holds the walsender back: memory stays
   * bounded however far behind the consumer is. Not a positive whole number: RangeError from subscribe().
   */
  readBufferBytes?: number;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Told about reconnects and slot changes; for logs and metrics. */
  onStatus?: (status: SubscriptionStatus) => void;
}

/**
 * Decoded transactions from a logical slot, in commit order, each delivered whole (begin, changes,
 * commit) and only once committed. Call `ack(commit)` when done with a transaction; the slot's
 * confirmed_flush_lsn never passes a transaction that was not acknowledged, so after a crash the
 * unacknowledged ones come again. Within one subscription, a transaction redelivered after a reconnect is
 * skipped (its commit LSN is at or below the last one delivered).
 *
 * ```ts
 * import { subscribe } from 'slotstream';
 * await using sub = subscribe({ connectionString, slot: 'reader_1', publication: 'slotstream' });
 * for await (const event of sub) {
 *   if (event.tag === 'commit') sub.ack(event);
 * }
 * ```
 */
export class Subscription implements AsyncIterable<ReplicationEvent>, AsyncDisposable {
  readonly slot: string;
  readonly publication: string;
  /** How many times the connection was re-established. */
  reconnects = 0;
  /** How many resets were delivered. */
  resets = 0;
  readonly #options: SubscribeOptions;
  readonly #abort = new AbortController();
  readonly #signal: AbortSignal;
  readonly #positions = new PositionTracker(ZERO_LSN);
  /** Turns each session's messages into whole transactions; this class keeps the connection going. */
  readonly #transactions = new TransactionAssembler(this.#positions);
  #session: ReplicationSession | undefined;
  #replication: pg.Client | undefined;
  #iterating = false;
  /** Whether this subscription has streamed from its slot, so a missing slot means a missed stretch. */
  #hadSlot = false;
  /** A reset the consumer has yet to receive. */
  #pendingReset: ResetEvent | undefined;
  /** Why the next connection is to drop the slot and start a new one (with a reset), if it is. */
  #resyncDue: 'publication' | 'requested' | undefined;
  /** The server's timeline when the last session started: a change means a promoted standby. */
  #timeline: number | undefined;
  /** Backend PID of our last walsender, to recognise it if it outlives its connection. */
  #walsenderPid: number | undefined;
  /** The end of the last replication connection, which close() waits for. */
  #ending: Promise<void> = Promise.resolve();
  readonly #backoff: Backoff;
  readonly #readBufferBytes: number;
  /** The session's frames being handed out (#drain), and the index of the next one. */
  #batch: readonly Buffer[] = NO_FRAMES;
  #nextFrame = 0;

  constructor(options: SubscribeOptions) {
    this.slot = validateSlotName(options.slot);
    this.publication = validatePublicationName(options.publication);
    this.#options = options;
    this.#readBufferBytes = readBufferLimit(options.readBufferBytes);
    this.#backoff = new Backoff(options.backoff?.initialMs, options.backoff?.maxMs);
    this.#signal = options.signal
      ? AbortSignal.any([options.signal, this.#abort.signal])
      : this.#abort.signal;
    // An abort must also end a session that is waiting for the server, not only the wait between sessions.
    this.#signal.addEventListener('abort', () => void this.#disconnect(), { once: true });
  }

  /**
   * Whether reading from the server is paused because `readBufferBytes` of received messages await the
   * consumer: backpressure, the walsender held back by TCP until the consumer catches up.
   */
  get readPaused(): boolean {
    return this.#session?.paused ?? false;
  }

  /** WAL position of the record the event being handled was decoded from. */
  get eventLsn(): Lsn {
    return this.#transactions.eventLsn;
  }

  /** Highest WAL position received, and the position acknowledged to the server. */
  get position(): { received: Lsn; flushed: Lsn } {
    return { received: this.#positions.received, flushed: this.#positions.flush };
  }

  /** Marks a transaction (its commit event, or the end LSN of one) as fully processed. */
  ack(commit: CommitMessage | Lsn): void {
    const endLsn = typeof commit === 'bigint' ? commit : commit.endLsn;
    if (this.#positions.acknowledge(endLsn)) this.#session?.acknowledged();
  }

  /**
   * Gives the slot up: the session ends now, and the next connection (once the publication passes the
   * checks) drops the slot and creates a new one, announced by a reset with reason `requested`. For a
   * consumer that can no longer trust what the slot delivers; it should ignore what comes before the reset.
   */
  resync(): void {
    this.#resyncDue ??= 'requested';
    void this.#disconnect();
  }

  /** Connects and streams; a subscription can be iterated once (a second time throws SlotstreamError). */
  [Symbol.asyncIterator](): AsyncIterator<ReplicationEvent> {
    if (this.#iterating) throw new SlotstreamError('a Subscription can be iterated only once');
    this.#iterating = true;
    return new EventIterator(this.#run(), () => this.#drain());
  }

  /**
   * Ends the current replication connection, not the subscription: iterating on reconnects (after the
   * usual backoff), and what was not acknowledged comes again, transactions already delivered filtered out.
   * For a consumer that holds a transaction it cannot finish yet: at a shutdown the walsender waits for its
   * client to confirm everything it sent, so holding the connection meanwhile holds up the server.
   */
  async interrupt(): Promise<void> {
    await this.#disconnect();
  }

  /** Reports the last acknowledgement to the server, ends the stream and the connection. */
  async close(): Promise<void> {
    this.#abort.abort(new SlotstreamError('subscription closed'));
    await this.#disconnect();
    await this.#ending; // the abort listener may have started the disconnect: the connection is gone only now
  }

  /** `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The control loop: connects, streams, and decides what each failure means (see EventIterator). */
  async *#run(): AsyncGenerator<ControlStep> {
    const backoff = this.#backoff;
    const spoolDir = createSpoolDirectory(this.#options.spoolDirectory);
    try {
      while (!this.#signal.aborted) {
        try {
          await this.#connect();
          const reset = this.#pendingReset;
          if (reset) {
            // Cleared only once delivered: a failure between dropping the old slot and here keeps it due.
            this.#pendingReset = undefined;
            this.resets++;
            yield reset;
          }
          yield* this.#stream(spoolDir.dir);
          throw new Error('the server ended the replication stream'); // not a SlotstreamError: retried
        } catch (err) {
          await this.#disconnect();
          const cut = this.#transactions.endSession();
          if (this.#signal.aborted) break;
          if (cut) yield cut;
          await this.#recover(err, backoff);
        }
      }
    } finally {
      await this.#disconnect();
      this.#transactions.endSession(); // its spool files, before their directory goes
      spoolDir.remove();
    }
  }

  /** Decides what a failure means: wait and reconnect, or throw. */
  async #recover(err: unknown, backoff: Backoff): Promise<void> {
    if (err instanceof PublicationError && this.#hadSlot) {
      // Changed under a slot that streamed: what it decodes while the publication lacks something is lost to
      // it for good, so once the publication is repaired a new slot takes over, with a reset. Until then this
      // loop is the wait for the repair, each attempt reported with what is still missing.
      this.#resyncDue = 'publication';
    } else if (err instanceof SlotstreamError && !(err instanceof ServerError)) {
      // Our own typed errors (a malformed message, a publication missing at start) would only repeat:
      // retrying them would be a crash loop with extra steps.
      throw err;
    }
    const kind = classifyFailure(err);
    if (kind === 'in-use') {
      const pid = activePidFrom(err);
      if (pid !== undefined && pid === this.#walsenderPid) {
        // Our own previous walsender, still holding the slot after a network drop until its
        // wal_sender_timeout: it serves nobody, so end it rather than wait.
        await this.#terminate(pid);
      } else if (this.#options.ifSlotActive !== 'wait') {
        throw new SlotInUseError(this.slot, pid, err);
      } else {
        this.#options.onStatus?.({ event: 'waiting-for-slot', slot: this.slot, pid });
      }
    } else if (kind === 'check') {
      err = (await this.#diagnose(err)) ?? err;
    } else if (!this.#hadSlot) {
      // Never connected: a wrong address or a server that is not there is the caller's to fix, not ours to wait out.
      throw err instanceof SlotstreamError
        ? err
        : new ServerError('connecting for replication', err as Error);
    }
    const delayMs = backoff.next();
    this.reconnects++;
    this.#options.onStatus?.({ event: 'reconnecting', slot: this.slot, delayMs, error: err as Error });
    await sleep(delayMs, this.#signal).catch(() => {});
  }

  /**
   * A server error other than a lost connection. Returns (to reconnect) when the slot this subscription
   * streamed from was lost or dropped under it, since connecting recreates it with a reset, or when the
   * server went away meanwhile. Otherwise throws: preflight's typed error when one applies (wal_level,
   * privileges, publication), else the server's own words. A missing slot is no evidence on first start
   * or for a temporary slot: recreating it would only repeat the error, a reset each time. A publication
   * that is missing, or was missing for a stretch of the WAL, gives the slot up (#resyncDue): returned, it
   * is what the reconnect reports.
   */
  async #diagnose(err: unknown): Promise<PublicationError | undefined> {
    let slot: SlotInfo | undefined;
    try {
      const sql = await connectSql(this.#options);
      try {
        await preflight(sql, this.#preflightOptions());
        slot = await getSlot(sql, this.slot);
      } finally {
        await sql.end();
      }
    } catch (inspectError) {
      if (inspectError instanceof PublicationError && this.#hadSlot) {
        this.#resyncDue = 'publication';
        return inspectError;
      }
      const typed = inspectError instanceof SlotstreamError && !(inspectError instanceof ServerError);
      if (this.#signal.aborted || (!typed && classifyFailure(inspectError) === 'retry')) return;
      throw inspectError;
    }
    if (slot && !isLost(slot) && publicationMissingInWal(err)) {
      // PostgreSQL before 18 stops at a change it decodes while the publication did not exist, and would at
      // every attempt: the publication was dropped and created again since.
      this.#resyncDue = 'publication';
      return PublicationError.missingInWal(this.publication, err);
    }
    const recreate = slot ? isLost(slot) : this.#hadSlot && !this.#options.temporary;
    if (!recreate)
      throw err instanceof ServerError ? err : new ServerError('streaming from the slot', err as Error);
  }

  /** Ends a backend of ours (a stale walsender); if that is not allowed, waiting for it is all there is. */
  async #terminate(pid: number): Promise<void> {
    const sql = await connectSql(this.#options).catch(() => undefined);
    await sql?.query('SELECT pg_terminate_backend($1)', [pid]).catch(() => {});
    await sql?.end().catch(() => {});
  }

  /**
   * Makes sure the slot exists and is usable, then starts streaming. When the slot had been lost, or had to
   * be recreated after this subscription streamed from it, leaves a reset in #pendingReset.
   */
  async #connect(): Promise<void> {
    const sql = await connectSql(this.#options);
    let existing: Awaited<ReturnType<typeof getSlot>>;
    let failover: boolean | undefined;
    try {
      await preflight(sql, this.#preflightOptions());
      // Every connection asks again: after a failover this may be another server, of another version.
      failover = await slotFailover(
        (text) => sql.query(text),
        this.slot,
        this.#options.failover,
        this.#options.temporary === true,
      );
      existing = await getSlot(sql, this.slot);
      if (existing && (existing.database !== sql.database || existing.plugin !== 'pgoutput'))
        throw new SlotElsewhereError(existing);
      const giveUp = existing && isLost(existing) ? 'slot-lost' : existing ? this.#resyncDue : undefined;
      if (giveUp) {
        // A lost slot never streams again, nor usefully one given up. Dropping it is safe only because the
        // reset tells the consumer, so the reset is due from this moment, whatever fails next.
        this.#pendingReset = { tag: 'reset', reason: giveUp, slot: this.slot, consistentPoint: ZERO_LSN };
        await dropSlot(sql, this.slot);
        existing = undefined;
      }
      this.#resyncDue = undefined;
    } finally {
      await sql.end();
    }
    const replication = await connectReplication(this.#options);
    this.#replication = replication;
    this.#throwIfAborted(); // close() may have run while we connected: it could not end this connection
    const timeline = await serverTimeline(replication);
    if (existing && this.#timeline !== undefined && timeline !== this.#timeline) {
      // A promoted standby: resume from where its timeline forked off ours, or from the slot's own position
      // if it does not descend from ours (then no transaction counts as seen). See timeline.ts.
      const fork = (await forkPoint(replication, this.#timeline, timeline)) ?? ZERO_LSN;
      this.#positions.rewind(fork);
      this.#transactions.rewind(fork);
      this.#options.onStatus?.({
        event: 'timeline-changed',
        slot: this.slot,
        from: this.#timeline,
        to: timeline,
        forkLsn: fork,
      });
    }
    this.#timeline = timeline;
    if (!existing) {
      const created = await createSlot(replication, this.slot, {
        temporary: this.#options.temporary,
        lockTimeoutMs: this.#options.slotCreationTimeoutMs,
        failover: failover === true,
      });
      this.#options.onStatus?.({
        event: 'slot-created',
        slot: this.slot,
        consistentPoint: created.consistentPoint,
        failover: created.failover,
      });
      if (this.#hadSlot && !this.#pendingReset) {
        const reason = this.#options.temporary ? 'temporary-slot' : 'slot-missing';
        this.#pendingReset = { tag: 'reset', reason, slot: this.slot, consistentPoint: ZERO_LSN };
      }
      if (this.#pendingReset) this.#pendingReset.consistentPoint = created.consistentPoint;
      // Nothing of the old slot counts: positions start over, and no transaction is a duplicate.
      this.#positions.reset(created.consistentPoint);
      this.#transactions.slotCreated();
      await this.#options.onSlotCreated?.(created);
      // Not before: any command ends the exported snapshot. The creation's lock_timeout must not apply to
      // decoding, which takes catalog locks a long VACUUM FULL may hold for a while.
      await replication.query('RESET lock_timeout');
    } else if (failover !== undefined && existing.failover !== failover) {
      // A slot made before failover slots were the default, or by another tool: made to match, so what
      // the caller asked for holds for old slots too.
      await alterSlotFailover((text) => replication.query(text), this.slot, failover);
      this.#options.onStatus?.({ event: 'slot-failover-changed', slot: this.slot, failover });
    }
    const protoVersion = Math.min(
      this.#options.maxProtoVersion ?? MAX_PROTO_VERSION,
      await serverProtoVersion(replication),
    );
    const senderTimeoutMs = await walSenderTimeoutMs(replication);
    // Never past what the consumer acknowledged; transactions cut off by the last connection come again.
    this.#positions.restart();
    const startLsn = this.#positions.flush;
    this.#walsenderPid = (replication as unknown as { processID?: number }).processID; // set by pg, untyped
    this.#session = new ReplicationSession(replication, this.#positions, {
      slot: this.slot,
      publication: this.publication,
      startLsn,
      protoVersion,
      statusIntervalMs: senderTimeoutMs > 0 ? Math.min(senderTimeoutMs / 3, 10_000) : 10_000,
      // The server's own patience (wal_sender_timeout) is ours: it keeps the link busy well within it.
      receiveTimeoutMs: senderTimeoutMs > 0 ? senderTimeoutMs : 60_000,
      ackReportDelayMs: this.#options.ackReportDelayMs ?? 100,
      readBufferBytes: this.#readBufferBytes,
    });
    await this.#session.ready;
    this.#throwIfAborted();
    this.#hadSlot = true;
    this.#options.onStatus?.({ event: 'connected', slot: this.slot, startLsn, protoVersion });
  }

  #preflightOptions() {
    return { publication: this.publication, tables: this.#options.tables, publish: this.#options.publish };
  }

  #throwIfAborted(): void {
    if (this.#signal.aborted) throw this.#signal.reason;
  }

  async #disconnect(): Promise<void> {
    this.#session?.close();
    this.#session = undefined;
    this.#batch = NO_FRAMES; // what is left of it comes again from the slot
    const replication = this.#replication;
    this.#replication = undefined;
    if (!replication) return;
    this.#ending = replication.end().catch(() => {});
    await this.#ending;
  }

  /** One session's frames, a batch at a time, each handed out by #drain before the next is read. */
  async *#stream(spoolDir: string): AsyncGenerator<typeof DRAIN> {
    const session = this.#session;
    if (!session) return;
    this.#transactions.startSession(spoolDir);
    for (let batch = await session.nextBatch(); batch; batch = await session.nextBatch()) {
      if (this.#signal.aborted) return; // closed: what is left would never be acknowledged
      this.#batch = batch;
      this.#nextFrame = 0;
      yield DRAIN;
    }
  }

  /**
   * The next event of the current batch, decoding its frames one at a time as the consumer pulls (a
   * streamed transaction's replay first); undefined once they are all handled. Keepalives go to the
   * session in their turn, pgoutput messages to the assembler.
   */
  #drain(): ReplicationEvent | undefined {
    if (this.#signal.aborted) return undefined; // closed: what is left would never be acknowledged
    const transactions = this.#transactions;
    let event = transactions.replayed();
    const batch = this.#batch;
    while (event === undefined && this.#nextFrame < batch.length) {
      const frame = batch[this.#nextFrame++] as Buffer;
      if (frame[0] === PRIMARY_KEEPALIVE) {
        this.#session?.keepalive(frame);
      } else if (frame[0] === XLOG_DATA) {
        const lsn = xlogDataStart(frame);
        this.#positions.observe(lsn);
        event = transactions.receive(lsn, frame, XLOG_DATA_HEADER_LENGTH);
      } else {
        const kind = frame.length === 0 ? '(empty)' : String.fromCharCode(frame[0] as number);
        throw new MalformedMessageError(kind, 0, 'a CopyData frame that is neither XLogData nor a keepalive');
      }
    }
    if (event?.tag === 'commit') this.#backoff.reset(); // a whole transaction came through: the connection works
    return event;
  }
}

/**
 * A subscription to `options.slot`, decoded through `options.publication`. Names are checked at once
 * (InvalidNameError); nothing connects until it is iterated, which creates the slot when missing and throws
 * a named error (WalLevelError, SlotInUseError, PublicationError, …) for what retrying cannot fix. See
 * `Subscription`, and the README's "Subscribing to a slot".
 *
 * @example
 * ```ts
 * import { subscribe } from 'slotstream';
 * const sub = subscribe({ connectionString, slot: 'reader_1', publication: 'slotstream', signal });
 * for await (const event of sub) {
 *   if (event.tag === 'insert') console.log(event.relation.name, event.new);
 *   if (event.tag === 'commit') sub.ack(event); // done with it: the slot may forget it
 * }
 * ```
 */
export function subscribe(options: SubscribeOptions): Subscription {
  return new Subscription(options);
}

/** The walsender's "publication … does not exist" (undefined_object), as PostgreSQL before 18 reports it. */
function publicationMissingInWal(err: unknown): boolean {
  return sqlState(err) === '42704' && /publication .* does not exist/.test(String((err as Error)?.message));
}

/** pgoutput protocol versions by server release: 2 (14, streaming), 3 (15, two-phase), 4 (16, parallel). */
async function serverProtoVersion(replication: pg.Client): Promise<number> {
  const version = await serverVersionNum((sql) => replication.query(sql));
  if (version >= 160000) return 4;
  if (version >= 150000) return 3;
  if (version >= 140000) return 2;
  return 1;
}

async function walSenderTimeoutMs(replication: pg.Client): Promise<number> {
  const { rows } = await replication.query(
    "SELECT setting::int * CASE unit WHEN 's' THEN 1000 ELSE 1 END AS ms FROM pg_settings WHERE name = 'wal_sender_timeout'",
  );
  return Number(rows[0]?.ms ?? 60_000);
}
