import { arm, checkTimeout } from './deadline.ts';
import { NotifierClosedError, WaitTimeoutError } from './errors.ts';
import { type HeapEntry, PositionHeap } from './position-heap.ts';

interface PositionWaiter extends HeapEntry {
  readonly resolve: (position: bigint) => void;
  readonly reject: (reason: unknown) => void;
  disarm: () => void;
}

/**
 * Read-your-writes: callers wait until this reader has applied a position (Synapse's
 * `wait_for_stream_position`, step 5 of `on_rdata`). The applied position only rises; `advance` resolves
 * the waiters at or below it, lowest target first, at a cost proportional to those it resolves.
 */
export class PositionWaiters {
  readonly #heap = new PositionHeap<PositionWaiter>();
  #current: bigint;
  #resolved = 0;
  #timeouts = 0;
  #aborts = 0;
  #closed = false;

  constructor(start: bigint) {
    this.#current = start;
  }

  get current(): bigint {
    return this.#current;
  }

  get stats(): { waiting: number; resolved: number; timeouts: number; aborts: number } {
    return {
      waiting: this.#heap.size,
      resolved: this.#resolved,
      timeouts: this.#timeouts,
      aborts: this.#aborts,
    };
  }

  /** A lower or equal position is a no-op (a redelivered transaction), so positions never go back. */
  advance(position: bigint): void {
    if (position <= this.#current) return;
    this.#current = position;
    for (let top = this.#heap.peek(); top !== undefined && top.target <= position; top = this.#heap.peek()) {
      this.#heap.remove(top);
      top.disarm();
      this.#resolved++;
      top.resolve(position);
    }
  }

  /** Every pending wait, and every later one, rejects with NotifierClosedError: nothing will advance. */
  close(): void {
    this.#closed = true;
    for (let top = this.#heap.peek(); top !== undefined; top = this.#heap.peek()) {
      this.#heap.remove(top);
      top.disarm();
      top.reject(new NotifierClosedError());
    }
  }

  /**
   * Resolves with the applied position once it is at least `target`; rejects with `WaitTimeoutError` after
   * `timeoutMs`, or with the signal's reason when it aborts (the waiter is removed either way).
   */
  wait(target: bigint, timeoutMs: number, signal?: AbortSignal): Promise<bigint> {
    return new Promise<bigint>((resolve, reject) => {
      checkTimeout(timeoutMs);
      if (signal?.aborted) return reject(signal.reason);
      if (this.#closed) return reject(new NotifierClosedError());
      if (target <= this.#current) {
        this.#resolved++;
        return resolve(this.#current);
      }
      if (timeoutMs === 0) {
        this.#timeouts++;
        return reject(new WaitTimeoutError(target, this.#current, timeoutMs));
      }
      const waiter: PositionWaiter = { target, heapIndex: -1, resolve, reject, disarm: () => {} };
      this.#heap.push(waiter);
      waiter.disarm = arm(
        timeoutMs,
        signal,
        () => {
          this.#heap.remove(waiter);
          this.#timeouts++;
          reject(new WaitTimeoutError(target, this.#current, timeoutMs));
        },
        (reason) => {
          this.#heap.remove(waiter);
          this.#aborts++;
          reject(reason);
        },
      );
    });
  }
}
