import type { ReplicationEvent } from './events.ts';

/** What a subscription's control loop yields when a batch of frames is ready for `drain`. */
export const DRAIN: unique symbol = Symbol('drain');

/** One step of the control loop: an event of its own (a reset, a cut-off transaction), or DRAIN. */
export type ControlStep = ReplicationEvent | typeof DRAIN;

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * A subscription's events as an AsyncIterator, at the cost of one settled promise per event. The control
 * loop (an async generator: connecting, reconnecting, resets, failures) takes one step per batch of
 * frames, not per event; between two of its steps, events come synchronously from `drain`, which decodes
 * the batch's frames one at a time as the consumer pulls them. Resuming async generators for every event
 * (two of them, and a generator per message) was, after decoding, the largest cost of a reader: about a
 * fifth of its CPU catching up a backlog.
 *
 * An error `drain` throws is thrown into the control loop, at the DRAIN it stopped at, so that it is
 * handled where every other failure of the session is (a reconnect, or the consumer's error).
 */
export class EventIterator implements AsyncIterator<ReplicationEvent> {
  readonly #control: AsyncGenerator<ControlStep, void, undefined>;
  readonly #drain: () => ReplicationEvent | undefined;
  /** The control loop's last step was DRAIN, and `drain` has not run dry since. */
  #draining = false;
  /** A step of the control loop under way: a next() meanwhile waits for it, to keep events in order. */
  #advancing: Promise<IteratorResult<ReplicationEvent>> | undefined;

  constructor(
    control: AsyncGenerator<ControlStep, void, undefined>,
    drain: () => ReplicationEvent | undefined,
  ) {
    this.#control = control;
    this.#drain = drain;
  }

  next(): Promise<IteratorResult<ReplicationEvent>> {
    if (this.#advancing !== undefined) {
      const again = () => this.next(); // whether that step brought an event or an error
      return this.#advancing.then(again, again);
    }
    if (this.#draining) {
      let event: ReplicationEvent | undefined;
      try {
        event = this.#drain();
      } catch (error) {
        this.#draining = false;
        return this.#advance(this.#control.throw(error));
      }
      if (event !== undefined) return Promise.resolve({ value: event, done: false });
      this.#draining = false;
    }
    return this.#advance(this.#control.next());
  }

  /** Ends the control loop (its `finally` closes the connection), as `break` in for-await does. */
  async return(): Promise<IteratorResult<ReplicationEvent>> {
    await this.#advancing?.catch(() => {});
    this.#draining = false;
    await this.#control.return();
    return DONE;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #advance(step: Promise<IteratorResult<ControlStep, void>>): Promise<IteratorResult<ReplicationEvent>> {
    const advancing = this.#step(step).finally(() => {
      this.#advancing = undefined;
    });
    this.#advancing = advancing;
    return advancing;
  }

  async #step(first: Promise<IteratorResult<ControlStep, void>>): Promise<IteratorResult<ReplicationEvent>> {
    let step = first;
    for (;;) {
      const result = await step;
      if (result.done === true) return DONE;
      if (result.value !== DRAIN) return { value: result.value, done: false };
      try {
        const event = this.#drain();
        if (event !== undefined) {
          this.#draining = true;
          return { value: event, done: false };
        }
        step = this.#control.next();
      } catch (error) {
        step = this.#control.throw(error);
      }
    }
  }
}
