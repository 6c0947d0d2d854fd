import { InvalidTokenError } from './errors.ts';

/**
 * A client's place in the streams, like Synapse's StreamToken, valid on every reader.
 *
 * Two position spaces make it up (docs/positions.md):
 * - `position`: every table stream and transactional message stream shares one position, allocated by the
 *   writer in commit order, so one number says "everything committed up to here". A stream's own position
 *   is the highest of these it has seen; the token needs only the highest of all.
 * - `ephemeral`: the LSN of the last non-transactional message (typing). Those are not in any transaction,
 *   so the commit order cannot place them; the WAL can, identically for every reader.
 *
 * Serialised as `s<position>_<ephemeral>` (decimal): opaque to clients, short in a URL, and versioned by its
 * leading letter should the format ever change.
 */
export interface StreamToken {
  readonly position: bigint;
  readonly ephemeral: bigint;
}

/** Positions are int8 columns; ephemeral positions are LSNs (unsigned 64-bit). */
const MAX_POSITION = 0x7fff_ffff_ffff_ffffn;
const MAX_LSN = 0xffff_ffff_ffff_ffffn;
const TOKEN = /^s(0|[1-9][0-9]{0,19})_(0|[1-9][0-9]{0,19})$/;

/**
 * The token as the opaque string a client keeps, `s<position>_<ephemeral>`; `decodeToken` reads it back
 * on any reader, since every reader's positions are the same.
 *
 * @example
 * ```ts
 * import { decodeToken, encodeToken } from 'slotstream';
 * const nextBatch = encodeToken(reader.token); // e.g. 's42_0'
 * decodeToken(nextBatch); // { position: 42n, ephemeral: 0n }
 * ```
 */
export function encodeToken(token: StreamToken): string {
  return `s${token.position}_${token.ephemeral}`;
}

/**
 * Parses a token from a client; InvalidTokenError (a 400 for the client) when it is not one of ours. The
 * result is a wait's `since`, on any reader.
 *
 * @example
 * ```ts
 * import { decodeToken } from 'slotstream';
 * const since = decodeToken('s42_7'); // { position: 42n, ephemeral: 7n }
 * await reader.wait({ keys: ['alice'], since, timeoutMs: 30_000 });
 * ```
 */
export function decodeToken(text: string): StreamToken {
  const match = TOKEN.exec(text);
  if (match === null)
    throw new InvalidTokenError(text, 'expected s<position>_<ephemeral>, as next_batch returns');
  const position = BigInt(match[1] as string);
  const ephemeral = BigInt(match[2] as string);
  if (position > MAX_POSITION || ephemeral > MAX_LSN)
    throw new InvalidTokenError(text, 'a position is out of range');
  return { position, ephemeral };
}

/**
 * The later of two tokens, component by component: a client never goes back in either space.
 *
 * @example
 * ```ts
 * import { decodeToken, encodeToken, maxToken } from 'slotstream';
 * const nextBatch = encodeToken(maxToken(decodeToken('s40_9'), reader.token)); // never behind the client
 * ```
 */
export function maxToken(a: StreamToken, b: StreamToken): StreamToken {
  return { position: later(a.position, b.position), ephemeral: later(a.ephemeral, b.ephemeral) };
}

/** Math.max for bigints. */
function later(a: bigint, b: bigint): bigint {
  if (a > b) return a;
  return b;
}

/**
 * A writer position (`/wait?position=`): one decimal, the position its transaction was given. Throws
 * InvalidTokenError for anything else, or a number beyond int8. The result is what a reader's
 * `waitForPosition` takes.
 *
 * @example
 * ```ts
 * import { decodePosition } from 'slotstream';
 * await reader.waitForPosition(decodePosition('42'), 5_000); // '-1' or '4e2' throw InvalidTokenError
 * ```
 */
export function decodePosition(text: string): bigint {
  if (!/^(0|[1-9][0-9]{0,19})$/.test(text)) {
    throw new InvalidTokenError(text, 'a position is a decimal number, as the writer returns it');
  }
  const position = BigInt(text);
  if (position > MAX_POSITION) throw new InvalidTokenError(text, 'the position is out of range');
  return position;
}
