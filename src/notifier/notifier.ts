import { KeyHistory } from '../cache/key-history.ts';
import { arm, checkTimeout } from './deadline.ts';
import { NotifierClosedError } from './errors.ts';
import { PositionWaiters } from './position-waiters.ts';

/**
 * How a wait ended. `position` is always this reader's applied position at that moment (at least the
 * position of every update reported), so a client continues from it: syncing up to it and waiting again
 * `after` it never loops on the same update, even after a conservative wake.
 */
export type WaitResult =
  | { kind: 'updated'; position: bigint; keys: string[] }
  | { kind: 'timeout'; position: bigint }
  | { kind: 'resync'; position: bigint };

export interface WaitOptions {
  /** What the client cares about, e.g. its user id and its rooms. Repeats are ignored. */
  keys: readonly string[];
  /** The client's token: only updates above it count. */
  after: bigint;
  /**
   * The client's place in the ephemeral position space (non-transactional updates such as typing, see
   * `notifyEphemeral`); ephemeral updates above it count too. Undefined: not interested in them.
   */
  afterEphemeral?: bigint;
  /** 0 answers at once (a probe, never registered); Infinity waits with no timer. */
  timeoutMs: number;
  /** Aborting (the client went away) rejects with the signal's reason and frees the waiter. */
  signal?: AbortSignal;
}

export interface NotifierOptions {
  /** The position the reader starts from; nothing before it is known. Default 0n. */
  position?: bigint;
  /** How many keys' last-update positions to remember (see KeyHistory). Default 100,000. */
  maxKeys?: number;
}

/** Plain numbers for metrics. Counters only rise; `waiters`, `keys` and the like are current sizes. */
export interface NotifierStats {
  /** Registered key waiters. */
  waiters: number;
  /** Keys with at least one registered waiter (the wake index). */
  indexedKeys: number;
  /** Keys whose last update is remembered. */
  trackedKeys: number;
  /** Waits answered 'updated' at once, without registering. */
  immediate: number;
  /** Registered waiters woken by an update. */
  wakes: number;
  timeouts: number;
  aborts: number;
  /** Waiters told to resync. */
  resyncs: number;
  positionWaiters: number;
  positionResolved: number;
  positionTimeouts: number;
  positionAborts: number;
}

interface KeyWaiter {
  readonly keys: readonly string[];
  readonly after: bigint;
  readonly afterEphemeral: bigint | undefined;
  readonly resolve: (result: WaitResult) => void;
  readonly reject: (reason: unknown) => void;
  disarm: () => void;
}

/**
 * Wakes clients waiting for updates relevant to them (docs/design.md, "Relevant, prompt wake-ups"): waiters
 * are indexed by key, so notifying a key touches only that key's waiters, and a woken waiter leaves every
 * key it was on, so it is woken once however many of its keys a batch touches. A reset (`resync`) wakes
 * everyone.
 *
 * The caller applies a transaction in the order docs/design.md gives: caches invalidated, then `notify` (or
 * `notifyAll`), which moves the position before it wakes anyone, so `currentPosition` never trails a
 * position a waiter was told about. A transaction that touched no key is `notify([], position)`: its
 * position still counts for `waitForPosition`.
 *
 * A `StreamReader` owns one (`reader.notifier`) and drives it; make one yourself only to wake waiters from
 * another source of updates.
 *
 * @example
 * ```ts
 * import { Notifier } from 'slotstream';
 * const notifier = new Notifier({ position: 10n });
 * const waiting = notifier.wait({ keys: ['!room:x'], after: 10n, timeoutMs: 30_000 });
 * notifier.notify(['!room:x'], 11n); // a transaction at position 11 touched the room
 * await waiting; // { kind: 'updated', position: 11n, keys: ['!room:x'] }
 * ```
 */
export class Notifier {
  readonly #history: KeyHistory;
  /**
   * The same for the ephemeral position space, whose updates are not ordered with the others: one waiter
   * registration covers both, so a client waiting on both spaces costs one entry per key and one timer.
   */
  readonly #ephemeralHistory: KeyHistory;
  readonly #positions: PositionWaiters;
  readonly #byKey = new Map<string, Set<KeyWaiter>>();
  /** Every registered waiter, including those with no keys (they can only time out, abort or resync). */
  readonly #all = new Set<KeyWaiter>();
  #closed = false;
  #immediate = 0;
  #wakes = 0;
  #timeouts = 0;
  #aborts = 0;
  #resyncs = 0;

  constructor(options: NotifierOptions = {}) {
    const start = options.position ?? 0n;
    this.#history = new KeyHistory(start, options.maxKeys ?? 100_000);
    this.#ephemeralHistory = new KeyHistory(0n, options.maxKeys ?? 100_000);
    this.#positions = new PositionWaiters(start);
  }

  /** The highest position applied so far (by `notify`, `notifyAll` or `resync`). */
  get currentPosition(): bigint {
    return this.#positions.current;
  }

  /** A snapshot of the counters and sizes, for metrics: a new object each time. */
  get stats(): NotifierStats {
    const p = this.#positions.stats;
    return {
      waiters: this.#all.size,
      indexedKeys: this.#byKey.size,
      trackedKeys: this.#history.size,
      immediate: this.#immediate,
      wakes: this.#wakes,
      timeouts: this.#timeouts,
      aborts: this.#aborts,
      resyncs: this.#resyncs,
      positionWaiters: p.waiting,
      positionResolved: p.resolved,
      positionTimeouts: p.timeouts,
      positionAborts: p.aborts,
    };
  }

  /**
   * Resolves 'updated' at once if one of `keys` changed after `after`; otherwise waits for an update of one
   * of them above `after`, the timeout ('timeout'), or a reset ('resync'). Rejects with the signal's reason
   * if it aborts, and with InvalidTimeoutError for a timeout no timer can wait.
   */
  wait(options: WaitOptions): Promise<WaitResult> {
    const { after, afterEphemeral, timeoutMs, signal } = options;
    return new Promise<WaitResult>((resolve, reject) => {
      checkTimeout(timeoutMs);
      if (signal?.aborted) return reject(signal.reason);
      if (this.#closed) return reject(new NotifierClosedError());
      const keys = [...new Set(options.keys)];
      const fired = this.#fired(keys, after, afterEphemeral);
      if (fired.length > 0) {
        this.#immediate++;
        return resolve({ kind: 'updated', position: this.currentPosition, keys: fired });
      }
      if (timeoutMs === 0) {
        this.#timeouts++;
        return resolve({ kind: 'timeout', position: this.currentPosition });
      }
      const waiter: KeyWaiter = { keys, after, afterEphemeral, resolve, reject, disarm: () => {} };
      this.#register(waiter);
      waiter.disarm = arm(
        timeoutMs,
        signal,
        () => {
          this.#unregister(waiter);
          this.#timeouts++;
          resolve({ kind: 'timeout', position: this.currentPosition });
        },
        (reason) => {
          this.#unregister(waiter);
          this.#aborts++;
          reject(reason);
        },
      );
    });
  }

  /**
   * Applies one decoded transaction: the position moves to `position` (lower ones are ignored), each of
   * `keys` is marked updated at it, and their waiters with a token below it are woken, each once, after
   * all the keys are recorded, so a waiter hears every one of its keys the transaction touched. `keys` is
   * read once, lazily: a generator over a spooled transaction is never materialised, and a key repeated a
   * million times costs a map lookup each repeat.
   */
  notify(keys: Iterable<string>, position: bigint): void {
    this.#positions.advance(position);
    this.#wakeDue(keys, this.#history, position, (waiter) => waiter.after < position);
  }

  /**
   * An ephemeral update (a typing notification) at `position` in the ephemeral space: wakes the waiters
   * on `keys` whose ephemeral token is below it. Does not move the ordered position.
   */
  notifyEphemeral(keys: Iterable<string>, position: bigint): void {
    this.#wakeDue(
      keys,
      this.#ephemeralHistory,
      position,
      (waiter) => waiter.afterEphemeral !== undefined && waiter.afterEphemeral < position,
    );
  }

  #wakeDue(
    keys: Iterable<string>,
    history: KeyHistory,
    position: bigint,
    due: (w: KeyWaiter) => boolean,
  ): void {
    const woken: KeyWaiter[] = [];
    for (const key of keys) {
      // Known at this position or later: any waiter it concerns was woken then or answered on arrival.
      if (!history.record(key, position)) continue;
      const waiters = this.#byKey.get(key);
      if (waiters === undefined) continue;
      const now: KeyWaiter[] = [];
      for (const waiter of waiters) if (due(waiter)) now.push(waiter);
      for (const waiter of now) {
        this.#unregister(waiter);
        woken.push(waiter);
      }
    }
    const current = this.currentPosition;
    for (const waiter of woken) {
      this.#wakes++;
      waiter.resolve({
        kind: 'updated',
        position: current,
        keys: this.#fired(waiter.keys, waiter.after, waiter.afterEphemeral),
      });
    }
  }

  /**
   * An update of every key at `position`: a transaction too big to list its keys (the caller coalesces up to
   * a cap), or a truncated stream table. Every waiter below `position` is woken with 'updated', and the
   * history forgets its keys so that later waits with older tokens are answered 'updated' as well.
   */
  notifyAll(position: bigint): void {
    this.#positions.advance(position);
    this.#history.reset(position);
    const due = [...this.#all].filter((waiter) => waiter.after < position);
    for (const waiter of due) this.#unregister(waiter);
    const current = this.currentPosition;
    for (const waiter of due) {
      this.#wakes++;
      waiter.resolve({ kind: 'updated', position: current, keys: [...waiter.keys] });
    }
  }

  /** Resolves with the applied position once it is ≥ `position`; WaitTimeoutError after `timeoutMs`. */
  waitForPosition(position: bigint, timeoutMs: number, signal?: AbortSignal): Promise<bigint> {
    return this.#positions.wait(position, timeoutMs, signal);
  }

  /**
   * A reset (the slot was lost or recreated): every key waiter is told to start over, and no key history
   * survives, so any later wait with a token below `position` is answered 'updated' at once. Position
   * waiters stay: the reader's position still only rises, and they resolve when it passes their target.
   */
  resync(position: bigint, ephemeralPosition = 0n): void {
    this.#positions.advance(position);
    this.#history.reset(position);
    this.#ephemeralHistory.reset(ephemeralPosition);
    const everyone = [...this.#all];
    for (const waiter of everyone) this.#unregister(waiter);
    const current = this.currentPosition;
    for (const waiter of everyone) {
      this.#resyncs++;
      waiter.resolve({ kind: 'resync', position: current });
    }
  }

  /**
   * The reader stopped: every pending wait (by key or by position) rejects with NotifierClosedError, and
   * so does every later one, instead of hanging until its timeout with nothing left to wake it.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const everyone = [...this.#all];
    for (const waiter of everyone) this.#unregister(waiter);
    for (const waiter of everyone) waiter.reject(new NotifierClosedError());
    this.#positions.close();
  }

  #fired(keys: readonly string[], after: bigint, afterEphemeral: bigint | undefined): string[] {
    return keys.filter(
      (key) =>
        this.#history.changedSince(key, after) ||
        (afterEphemeral !== undefined && this.#ephemeralHistory.changedSince(key, afterEphemeral)),
    );
  }

  #register(waiter: KeyWaiter): void {
    this.#all.add(waiter);
    for (const key of waiter.keys) {
      const set = this.#byKey.get(key);
      if (set === undefined) this.#byKey.set(key, new Set([waiter]));
      else set.add(waiter);
    }
  }

  /** Removes the waiter from every index and stops its timer and abort listener. */
  #unregister(waiter: KeyWaiter): void {
    this.#all.delete(waiter);
    for (const key of waiter.keys) {
      const set = this.#byKey.get(key);
      if (set === undefined) continue;
      set.delete(waiter);
      if (set.size === 0) this.#byKey.delete(key);
    }
    waiter.disarm();
  }
}
