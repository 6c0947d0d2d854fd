/**
 * # replication/ — logical slots as async iterables of whole, committed transactions
 *
 * `subscribe()` holds one logical slot over a replication connection (copyBoth, pgoutput), decodes what the
 * walsender sends, delivers each transaction whole and in commit order, and moves the slot only as far as
 * the consumer acknowledged. Reconnects, lost slots (a `reset` event) and server-streamed large
 * transactions are handled here; the named errors say what went wrong and what to do.
 */
export { Backoff, sleep } from './backoff.ts';
export { type ConnectionOptions, connectReplication, connectSql, type RunSql } from './connect.ts';
export * from './errors.ts';
export type { IncompleteEvent, ReplicationEvent, ResetEvent, SubscriptionStatus } from './events.ts';
export { formatLsn, type Lsn, parseLsn, ZERO_LSN } from './lsn.ts';
export {
  DEFAULT_PUBLICATION,
  quoteIdent,
  quoteLiteral,
  validatePublicationName,
  validateSlotName,
} from './names.ts';
export { PUBLISH_ACTIONS, type PublishAction } from './preflight.ts';
export {
  type CreatedSlot,
  createSlot,
  dropSlot,
  getSlot,
  isLost,
  listSlots,
  type SlotInfo,
} from './slots.ts';
export { type SubscribeOptions, Subscription, subscribe } from './subscribe.ts';
