import { Backoff, type StreamUpdate, sleep } from 'slotstream';
import { toEventJson } from '../event-json.ts';
import type { HttpLogger } from '../http/server.ts';
import { eventsStream } from '../streams.ts';

/**
 * The pusher role: every new event goes to a webhook as a JSON POST, retried with backoff until the
 * webhook accepts it (2xx). It runs inside the reader's update handler, which the runtime awaits before it
 * acknowledges the transaction to the slot: an event is acknowledged only once delivered, so a crash of the
 * pusher or an outage of the webhook delays events but never loses them (at-least-once; the webhook sees
 * an event again after a pusher crash, and can deduplicate by `event_id`).
 */
export class Pusher {
  readonly #url: string;
  readonly #logger: HttpLogger;
  readonly #signal: AbortSignal;
  pushed = 0;
  retries = 0;

  constructor(url: string, logger: HttpLogger, signal: AbortSignal) {
    this.#url = url;
    this.#logger = logger;
    this.#signal = signal;
  }

  /** The reader's onUpdate: pushes inserted events, ignores everything else. */
  readonly onUpdate = async (update: StreamUpdate): Promise<void> => {
    if (!eventsStream.is(update) || update.op !== 'insert') return;
    await this.#deliver(JSON.stringify(toEventJson(update.row)), update.row.event_id);
  };

  async #deliver(body: string, eventId: string): Promise<void> {
    const backoff = new Backoff(100, 10_000);
    for (;;) {
      this.#signal.throwIfAborted();
      try {
        const response = await fetch(this.#url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.any([this.#signal, AbortSignal.timeout(10_000)]),
        });
        await response.arrayBuffer(); // drain, so the connection can be reused
        if (response.ok) {
          this.pushed++;
          return;
        }
        throw new Error(`webhook answered ${response.status}`);
      } catch (error) {
        if (this.#signal.aborted) throw this.#signal.reason;
        this.retries++;
        const delay = backoff.next();
        this.#logger.warn({ err: error, eventId, retryInMs: Math.round(delay) }, 'push failed; retrying');
        await sleep(delay, this.#signal);
      }
    }
  }
}
