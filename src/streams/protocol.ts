import { messageStream } from './define.ts';
import { StreamMessageError } from './errors.ts';

/**
 * The messages the writer adds to its transactions for readers, besides the rows themselves.
 */

/**
 * Transactional; content: the position allocated to the transaction, in decimal. Emitted last in every
 * writer transaction (after its counts, COUNTS_PREFIX), so a reader knows a transaction's position even when it wrote no stream row (an
 * UPDATE, a DELETE, only invalidations).
 */
export const POSITION_PREFIX = 'slotstream.position';

/**
 * The position a writer transaction's `slotstream.position` message announces; throws StreamMessageError
 * for content that is not a decimal position. `StreamReader` reads these itself; this is for consumers of
 * `subscribe()` that want writer positions.
 *
 * @example
 * ```ts
 * import { POSITION_PREFIX, parsePositionMessage } from 'slotstream';
 * for await (const event of sub) {
 *   if (event.tag !== 'message' || event.prefix !== POSITION_PREFIX) continue;
 *   console.log('writer position', parsePositionMessage(event.content));
 * }
 * ```
 */
export function parsePositionMessage(content: Buffer): bigint {
  const text = content.toString('utf8');
  if (!/^(0|[1-9][0-9]{0,18})$/.test(text)) {
    throw new StreamMessageError(
      'position',
      POSITION_PREFIX,
      `content ${JSON.stringify(text.slice(0, 40))} is not a position`,
    );
  }
  return BigInt(text);
}

/**
 * Transactional; content: a JSON object from `schema.table` to the number of row changes (inserts, updates,
 * deletes; 1 per TRUNCATE) the transaction made to that stream table, counted by the database itself
 * (change-counts.ts). The writer emits it just before its position message, after every row of the
 * transaction, so a reader can check at commit that it received every change: a publication that lost a
 * table, or was dropped, makes the walsender skip rows without telling anyone. Tables without a count made
 * no change; transactions without the message (not the writer's) are not checked.
 */
export const COUNTS_PREFIX = 'slotstream.counts';

/** A counts message's content; throws StreamMessageError when it is not an object of whole counts. */
export function parseCountsMessage(content: Buffer): Map<string, number> {
  const fail = (detail: string) => new StreamMessageError('counts', COUNTS_PREFIX, detail);
  let value: unknown;
  try {
    value = JSON.parse(content.toString('utf8'));
  } catch {
    throw fail('content is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw fail('content is not an object');
  const counts = new Map<string, number>();
  for (const [table, count] of Object.entries(value)) {
    if (!(Number.isSafeInteger(count) && (count as number) >= 0))
      throw fail(`the count of ${JSON.stringify(table)} is not a whole number`);
    counts.set(table, count as number);
  }
  return counts;
}

/**
 * Non-transactional and empty: the writer emits it with a flush after its asynchronously committed
 * transactions, to make them durable before it reports success (see StreamWriter). Readers ignore it.
 */
export const FLUSH_PREFIX = 'slotstream.flush';

/** An explicit cache invalidation: `keys` is a key prefix of cache `cache`, or null for the whole cache. */
export interface CacheInvalidation {
  cache: string;
  keys: readonly string[] | null;
}

/**
 * Explicit invalidations the writer emits inside its transactions (Synapse's `caches` stream): they reach
 * readers in the transaction's batch, so they are applied exactly when the data they cover is.
 */
export const cachesStream = messageStream<CacheInvalidation>({
  name: 'caches',
  prefix: 'slotstream.caches',
  transactional: true,
  parse(content) {
    const fail = (detail: string) => new StreamMessageError('caches', 'slotstream.caches', detail);
    let value: unknown;
    try {
      value = JSON.parse(content.toString('utf8'));
    } catch {
      throw fail('content is not JSON');
    }
    if (typeof value !== 'object' || value === null) throw fail('content is not an object');
    const { cache, keys } = value as { cache?: unknown; keys?: unknown };
    if (typeof cache !== 'string' || cache === '') throw fail('"cache" must be a non-empty string');
    if (keys !== null && !(Array.isArray(keys) && keys.every((k) => typeof k === 'string'))) {
      throw fail('"keys" must be an array of strings or null');
    }
    return { cache, keys: keys as string[] | null };
  },
  encode: (row) => JSON.stringify({ cache: row.cache, keys: row.keys }),
});
