import { StreamCursor, type StreamCursorStats, type StreamReader } from 'slotstream';
import type { HttpLogger } from '../http/server.ts';
import { eventsStream } from '../streams.ts';
import { EventWebhook, PushFailedError } from './webhook.ts';

export interface PusherOptions {
  connectionString: string;
  /** The primary, when the reader is on a hot standby: the cursor is kept there (a standby is read-only). */
  primaryConnectionString?: string | undefined;
  /** The webhook: each event is POSTed to it as JSON. */
  url: string;
  /** The pusher's cursor in slotstream_cursors: where it got to, kept across restarts and lost slots. */
  name: string;
  /** Its reader: the pusher reads up to the position it applied, and wakes when it applies more. */
  reader: StreamReader;
  logger: HttpLogger;
}

/**
 * The pusher role: every event, in stream order, goes to a webhook as a JSON POST, retried with backoff
 * until the webhook accepts it (2xx). It follows the events table with a StreamCursor of its own, beside
 * the reader rather than inside it: the reader acknowledges its slot at once, so a webhook outage pins no
 * WAL, and after an outage, a crash, or a slot lost meanwhile (a reset) the pusher catches up from the
 * table, from where its cursor says it stopped. Delivery is at-least-once: after a crash the webhook sees
 * again the events of the batch that was in flight, and can deduplicate by `event_id`.
 */
export class Pusher {
  readonly #webhook: EventWebhook;
  readonly #cursor: StreamCursor<typeof eventsStream.columns>;

  private constructor(webhook: EventWebhook, cursor: StreamCursor<typeof eventsStream.columns>) {
    this.#webhook = webhook;
    this.#cursor = cursor;
  }

  /** Opens the pusher's cursor (created at its reader's position the first time) and starts pushing. */
  static async start(options: PusherOptions): Promise<Pusher> {
    const { logger } = options;
    const webhook = new EventWebhook(options.url);
    const cursor = await StreamCursor.start({
      connectionString: options.connectionString,
      cursorConnectionString: options.primaryConnectionString,
      reader: options.reader,
      stream: eventsStream,
      name: options.name,
      // A new pusher starts where its reader is: every event the reader has yet to apply gets pushed.
      from: options.reader.position,
      deliver: (rows, signal) => webhook.push(rows, signal),
      onRetry: ({ error, delayMs, during }) => {
        const retryInMs = Math.round(delayMs);
        if (during === 'database')
          logger.warn({ err: error, retryInMs }, 'pusher: database unreachable; retrying');
        else {
          const eventId = error instanceof PushFailedError ? error.eventId : undefined;
          logger.warn({ err: error, eventId, retryInMs }, 'push failed; retrying');
        }
      },
    });
    return new Pusher(webhook, cursor);
  }

  /** POSTs the webhook accepted. */
  get pushed(): number {
    return this.#webhook.pushed;
  }

  /** The cursor: its position, its lag behind the reader, its retries. */
  get stats(): StreamCursorStats {
    return this.#cursor.stats;
  }

  /** Settles when the pusher stops: resolves after close(), rejects with what stopped it otherwise. */
  get done(): Promise<void> {
    return this.#cursor.done;
  }

  /** Stops pushing; a POST in flight is cut short, and its batch comes again on the next start. */
  close(): Promise<void> {
    return this.#cursor.close();
  }
}
