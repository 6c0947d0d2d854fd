import {
  decodeToken,
  encodeToken,
  InvalidTokenError,
  type StreamReader,
  type StreamToken,
  WaitTimeoutError,
} from 'slotstream';
import { actingUser } from '../auth/acting-user.ts';
import type { Caller } from '../auth/authenticate.ts';
import { HttpError, invalidParam, queryInteger, queryString, TIMEOUT_BOUNDS } from '../http/index.ts';
import type { RequestContext } from '../http/router.ts';
import { computeSync, isEmpty, type SyncResult, type SyncSources } from './sync.ts';

/** How long a `since` ahead of this reader waits for it to catch up, unless told: then the client is told. */
export const CATCH_UP_MS = 10_000;

export interface SyncDeps extends SyncSources {
  reader: StreamReader;
  /** How long a `since` ahead of this reader waits for it (then 503 M_NOT_CAUGHT_UP); default CATCH_UP_MS. */
  catchUpMs?: number;
  /**
   * Told the position up to which the caller's to-device messages were delivered (`since` proves it); the
   * caller's token goes with it, for the writer to delete them as that user.
   */
  onDelivered?: (caller: Caller, upto: bigint) => void;
}

/**
 * GET /sync?user_id=U&since=T&timeout=MS, for the caller (`user_id` may be left out, and must be theirs).
 * Answers at once when the window (since, next_batch] holds anything of the user's; otherwise long-polls:
 * waits for an update relevant to the user or their rooms, then computes the window again, until `timeout`
 * passes.
 */
export async function handleSync(deps: SyncDeps, ctx: RequestContext, caller: Caller) {
  const { reader } = deps;
  const userId = actingUser(queryString(ctx.query, 'user_id'), 'user_id', caller.userId, 'param');
  const sinceText = queryString(ctx.query, 'since');
  const timeoutMs = queryInteger(ctx.query, 'timeout', TIMEOUT_BOUNDS, 0) ?? 0;
  let since: StreamToken | undefined;
  try {
    since = sinceText === undefined ? undefined : decodeToken(sinceText);
  } catch (error) {
    if (error instanceof InvalidTokenError) throw invalidParam(`since: ${error.message}`);
    throw error;
  }
  if (since !== undefined && since.position > reader.position)
    await catchUp(reader, since.position, deps.catchUpMs ?? CATCH_UP_MS, ctx.signal);
  if (since !== undefined && since.position > 0n) deps.onDelivered?.(caller, since.position);

  const deadline = Date.now() + timeoutMs;
  let result = await computeSync(deps, userId, since, reader.token);
  while (since !== undefined && isEmpty(result) && Date.now() < deadline) {
    const outcome = await reader.wait({
      keys: [userId, ...result.joined],
      since: result.next,
      timeoutMs: deadline - Date.now(),
      signal: ctx.signal,
    });
    result = await computeSync(deps, userId, since, reader.token);
    if (outcome !== 'updated') break;
  }
  return { body: render(result) };
}

/** A token from a reader further ahead: wait (bounded) rather than answer from behind it. */
async function catchUp(
  reader: StreamReader,
  position: bigint,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  try {
    await reader.waitForPosition(position, timeoutMs, signal);
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
    throw new HttpError(
      503,
      'M_NOT_CAUGHT_UP',
      `this reader has applied position ${reader.position}, behind the token's ${position}; retry, or use another reader`,
      { headers: { 'Retry-After': '1' } },
    );
  }
}

function render(result: SyncResult) {
  return {
    next_batch: encodeToken(result.next),
    rooms: result.rooms,
    account_data: result.account_data,
    to_device: result.to_device,
  };
}
