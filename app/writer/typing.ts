/**
 * Typing notifications and their timeouts. A `typing: true` lasts `timeout_ms` unless renewed; when it runs
 * out, the writer itself emits `typing: false`, so every reader sees the stop (and wakes the room's waiters)
 * at the same WAL position rather than each guessing from its own clock.
 *
 * Per (room, user): a new notification replaces the timer, `typing: false` clears it, and emissions are
 * chained, so they reach the WAL in the order the writer decided them (an expiry and a renewal racing on two
 * pool connections cannot land stopped-after-started). Timers are unref'd: they never keep a process alive.
 */
import type { TypingRow } from '../streams.ts';

export interface TypingOptions {
  /** Emits one row (StreamWriter.emitEphemeral on the typing stream). */
  emit: (row: TypingRow) => Promise<unknown>;
  /** An expiry's emission failed: there is no request to answer, so it is reported here. */
  onExpiryError?: (err: unknown, row: TypingRow) => void;
  /** A timeout ran out and its `typing: false` was emitted. */
  onExpired?: (row: TypingRow) => void;
}

export interface TypingChange {
  roomId: string;
  userId: string;
  typing: boolean;
  /** How long `typing: true` lasts; ignored (sent as 0) when false. */
  timeoutMs: number;
}

interface Timer {
  handle: NodeJS.Timeout;
}

export class TypingTimers {
  readonly #options: TypingOptions;
  readonly #timers = new Map<string, Timer>();
  /** The last emission of each (room, user), settled either way: the next one waits for it. */
  readonly #chains = new Map<string, Promise<void>>();
  #closed = false;

  constructor(options: TypingOptions) {
    this.#options = options;
  }

  /** Sets the user's typing state in the room; resolves once the notification is emitted (flushed). */
  set(change: TypingChange): Promise<void> {
    const key = keyOf(change.roomId, change.userId);
    this.#clearTimer(key);
    if (change.typing && !this.#closed) this.#startTimer(key, change);
    return this.#enqueue(key, {
      room_id: change.roomId,
      user_id: change.userId,
      typing: change.typing,
      timeout_ms: change.typing ? change.timeoutMs : 0,
      ts: Date.now(),
    });
  }

  /** Users whose `typing: true` has not run out or been stopped yet. */
  get active(): number {
    return this.#timers.size;
  }

  /** Clears every timer (no more expiries), then waits for the emissions under way. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer.handle);
    this.#timers.clear();
    await Promise.all(this.#chains.values());
  }

  #startTimer(key: string, change: TypingChange): void {
    const timer: Timer = {
      handle: setTimeout(() => {
        // Replaced or cleared since: clearTimeout stopped it, but be sure it is still the current one.
        if (this.#timers.get(key) !== timer) return;
        this.#timers.delete(key);
        const row: TypingRow = {
          room_id: change.roomId,
          user_id: change.userId,
          typing: false,
          timeout_ms: 0,
          ts: Date.now(),
        };
        this.#enqueue(key, row).then(
          () => this.#options.onExpired?.(row),
          (err: unknown) => this.#options.onExpiryError?.(err, row),
        );
      }, change.timeoutMs),
    };
    timer.handle.unref();
    this.#timers.set(key, timer);
  }

  #clearTimer(key: string): void {
    const timer = this.#timers.get(key);
    if (timer === undefined) return;
    clearTimeout(timer.handle);
    this.#timers.delete(key);
  }

  #enqueue(key: string, row: TypingRow): Promise<void> {
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const emitted = previous.then(async () => {
      await this.#options.emit(row);
    });
    const settled = emitted.then(
      () => {},
      () => {},
    );
    this.#chains.set(key, settled);
    void settled.then(() => {
      if (this.#chains.get(key) === settled) this.#chains.delete(key);
    });
    return emitted;
  }
}

function keyOf(roomId: string, userId: string): string {
  // Room ids cannot contain a space, so the pair is unambiguous.
  return `${roomId} ${userId}`;
}
