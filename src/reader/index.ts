/**
 * # reader/ — the reader runtime
 *
 * `StreamReader` turns its slot's transactions into stream updates and applies each transaction as one
 * unit: caches invalidated or updated in place (rules declared beside each cache in `CacheRules`, plus the
 * writer's explicit invalidations) and change caches told what changed, then its position advanced, then waiters woken, then
 * the slot acknowledged. Effects are coalesced per transaction with caps, so a transaction of any size
 * costs bounded memory.
 */
export {
  CacheRules,
  type CacheUpdater,
  type ChangeRule,
  type InvalidationRule,
  on,
  type StreamRule,
  type UpdateRule,
  updateOn,
} from './cache-rules.ts';
export { IncompleteTransactionError, type MissingChanges } from './completeness.ts';
export { StandbySnapshotError } from './standby-snapshots.ts';
export * from './stream-cursor.ts';
export {
  type ReaderFault,
  StreamReader,
  type StreamReaderOptions,
  type StreamReaderStats,
  type StreamWaitOptions,
} from './stream-reader.ts';
export { DEFAULT_EFFECT_LIMITS, type EffectLimits } from './transaction-effects.ts';
