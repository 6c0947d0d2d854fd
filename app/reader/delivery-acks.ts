import type { Caller } from '../auth/authenticate.ts';
import type { HttpLogger } from '../http/server.ts';

/**
 * Tells the writer which to-device messages were delivered, so it can delete them (readers never write
 * to the database). A client syncing with `since = T` has received every message up to T, so everything at
 * or below T can go. Requests are coalesced per user and sent in the background: the deletion is only
 * garbage collection, as delivery itself is decided by positions, so a lost request costs disk, not
 * correctness. Each request carries the syncing user's own access token: the writer deletes only the
 * messages of the token's user, so a reader cannot be used to delete anyone else's.
 *
 * The API's /sync names a user, not a device, so this assumes one syncing client per user: a second
 * client of the same user, syncing from an older token, would find messages the first one's sync already
 * had deleted. (Synapse keys delivery by device; the API would need a device in /sync to do the same.)
 */
export class DeliveryAcks {
  readonly #writerUrl: string;
  readonly #logger: HttpLogger;
  /** User → highest delivered position not yet sent, and the token of the sync that proved it. */
  readonly #pending = new Map<string, { upto: bigint; token: string }>();
  /** User → highest position the writer has acknowledged deleting up to. */
  readonly #sent = new Map<string, bigint>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(writerUrl: string, logger: HttpLogger) {
    this.#writerUrl = writerUrl.replace(/\/$/, '');
    this.#logger = logger;
  }

  delivered(caller: Caller, upto: bigint): void {
    const { userId, token } = caller;
    if ((this.#sent.get(userId) ?? -1n) >= upto || (this.#pending.get(userId)?.upto ?? -1n) >= upto) return;
    this.#pending.set(userId, { upto, token });
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#flushing = this.#flush();
    }, 200).unref();
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
  }

  async #flush(): Promise<void> {
    const batch = [...this.#pending];
    this.#pending.clear();
    for (const [userId, { upto, token }] of batch) {
      try {
        const response = await fetch(`${this.#writerUrl}/_slotstream/to_device/delete`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ user_id: userId, upto: upto.toString() }),
          signal: AbortSignal.timeout(5_000),
        });
        if (!response.ok) throw new Error(`writer answered ${response.status}: ${await response.text()}`);
        this.#sent.set(userId, upto);
        if (this.#sent.size > 100_000) this.#sent.clear(); // bounded; forgetting only costs a repeat request
      } catch (error) {
        this.#logger.warn(
          { err: error, userId },
          'could not ask the writer to delete delivered to-device messages',
        );
      }
    }
  }
}
