import { SlotstreamError } from '../replication/errors.ts';

/**
 * A standby that cannot be made or used as asked: its data directory holds something else (or a standby
 * that was promoted), its slot on the primary is held by another standby, or the primary has tablespaces.
 * The message says what to change.
 *
 * @example
 * ```ts
 * import { LocalCluster, StandbyError } from 'slotstream/devdb';
 * await LocalCluster.startStandby({ primary, binaries, dataDir: 'tmp/standby', slot: 'standby_1' }).catch((e) => {
 *   if (e instanceof StandbyError) console.error(e.message); // e.g. "… was promoted: remove it …"
 *   throw e;
 * });
 * ```
 */
export class StandbyError extends SlotstreamError {}
