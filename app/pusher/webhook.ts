import type { RowOf } from 'slotstream';
import { toEventJson } from '../event-json.ts';
import type { eventsStream } from '../streams.ts';

type EventRow = RowOf<typeof eventsStream.columns>;

/** One event the webhook did not accept: an answer other than 2xx, or none. */
export class PushFailedError extends Error {
  constructor(
    readonly eventId: string,
    detail: string,
    cause?: unknown,
  ) {
    super(`pushing ${eventId}: ${detail}`, cause === undefined ? undefined : { cause });
  }
}

/**
 * A webhook that takes events one JSON POST at a time (the event as the HTTP API shows it), in the order
 * given, and says it accepted one by answering 2xx.
 */
export class EventWebhook {
  readonly #url: string;
  /** The highest stream ordering accepted by this process: a batch sent again skips up to it. */
  #accepted = 0n;
  #pushed = 0;

  constructor(url: string) {
    this.#url = url;
  }

  /** POSTs the webhook accepted. */
  get pushed(): number {
    return this.#pushed;
  }

  /**
   * POSTs `rows` in order, stopping at the first the webhook does not accept (PushFailedError). Sent again
   * after such a failure, a batch resumes after what was accepted, so a retry adds no duplicate.
   */
  async push(rows: readonly EventRow[], signal: AbortSignal): Promise<void> {
    for (const row of rows) {
      if (row.stream_ordering <= this.#accepted) continue;
      await this.#post(row, signal);
      this.#accepted = row.stream_ordering;
      this.#pushed++;
    }
  }

  async #post(row: EventRow, signal: AbortSignal): Promise<void> {
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(toEventJson(row)),
        signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
      });
      await response.arrayBuffer(); // drain, so the connection can be reused
    } catch (error) {
      throw new PushFailedError(row.event_id, 'no answer from the webhook', error);
    }
    if (!response.ok) throw new PushFailedError(row.event_id, `the webhook answered ${response.status}`);
  }
}
