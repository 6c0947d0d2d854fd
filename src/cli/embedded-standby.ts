import { existsSync } from 'node:fs';
import path from 'node:path';
import { embeddedBinaries } from '../devdb/binaries.ts';
import { StandbyError } from '../devdb/errors.ts';
import { LocalCluster } from '../devdb/local-cluster.ts';
import { dropStandbySlot, waitForReplay } from '../devdb/standby.ts';
import { type Connection, EMBEDDED_DATABASE, embeddedDataDir, portFor } from './connection.ts';

/**
 * The embedded cluster's hot standby (`slotstream start --standby`): `.slotstream/standby` beside
 * `.slotstream/pg`, made from a base backup of it on first use and streaming from its physical slot
 * `slotstream_standby`. For trying readers on a standby on one machine; see docs/design.md, "Topologies".
 */

/** The standby's port when free at its first start; remembered in its data directory after. */
export const EMBEDDED_STANDBY_PORT = 54330;
/** Its physical slot on the embedded cluster. */
export const EMBEDDED_STANDBY_SLOT = 'slotstream_standby';

/**
 * The embedded standby's directory for `cwd`.
 *
 * @example
 * ```ts
 * import { embeddedStandbyDataDir } from 'slotstream/cli';
 * embeddedStandbyDataDir('/srv/app'); // '/srv/app/.slotstream/standby'
 * ```
 */
export function embeddedStandbyDataDir(cwd: string = process.cwd()): string {
  return path.join(cwd, '.slotstream', 'standby');
}

/**
 * Starts the embedded standby of `primary` (an embedded connection, from resolveConnection), making it on
 * first use, and resolves once it has replayed everything the primary had committed (migrations included),
 * so readers started on it find the schema. Throws StandbyError when `.slotstream/standby` was promoted,
 * or `primary` is not the embedded cluster.
 *
 * @example
 * ```ts
 * import { resolveConnection, startEmbeddedStandby } from 'slotstream/cli';
 * const primary = await resolveConnection({ env: {} }); // the embedded cluster
 * const standby = await startEmbeddedStandby(primary, { log: console.error });
 * console.log(standby.url); // readers: --database-url standby.url --primary-url primary.url
 * await standby.embedded?.stop();
 * ```
 */
export async function startEmbeddedStandby(
  primary: Connection,
  options: { cwd?: string; log?: (line: string) => void } = {},
): Promise<Connection> {
  const cluster = primary.embedded;
  if (cluster === undefined)
    throw new StandbyError('a standby copies the embedded cluster: it cannot follow a server given by URL');
  const dataDir = embeddedStandbyDataDir(options.cwd);
  if (!existsSync(dataDir))
    options.log?.(`creating the embedded standby in ${dataDir} from a base backup of ${cluster.dataDir}`);
  const standby = await LocalCluster.startStandby({
    primary: cluster,
    binaries: embeddedBinaries(),
    dataDir,
    slot: EMBEDDED_STANDBY_SLOT,
    port: await portFor(dataDir, EMBEDDED_STANDBY_PORT),
  });
  try {
    await waitForReplay(standby, cluster);
  } catch (error) {
    await standby.stop();
    throw error;
  }
  return {
    url: standby.url(EMBEDDED_DATABASE),
    source: 'embedded',
    embedded: standby,
    close: async () => {},
  };
}

/** What `promoteEmbeddedStandby` did. */
export interface Promotion {
  standby: LocalCluster;
  /**
   * The standby's slot on the embedded cluster: dropped, kept (that cluster is not running), or absent
   * (dropped before).
   */
  slot: 'dropped' | 'kept' | 'absent';
}

/**
 * Promotes the embedded standby (started first if it is not running): it stops following `.slotstream/pg`
 * and takes writes; readers on it keep their slots. Its physical slot on `.slotstream/pg` is dropped when
 * that cluster is running (it would pin WAL for nobody); a stopped one is left stopped, as a failed primary
 * would be. Throws StandbyError when there is no standby, or it was promoted already.
 */
export async function promoteEmbeddedStandby(cwd: string = process.cwd()): Promise<Promotion> {
  const dataDir = embeddedStandbyDataDir(cwd);
  if (!existsSync(path.join(dataDir, 'PG_VERSION')))
    throw new StandbyError(
      `there is no embedded standby in ${dataDir}: \`slotstream start --standby\` makes one`,
    );
  const binaries = embeddedBinaries();
  const standby = await LocalCluster.start({ binaries, dataDir });
  await standby.promote();
  const primaryDir = embeddedDataDir(cwd);
  if (!existsSync(path.join(primaryDir, 'postmaster.pid'))) return { standby, slot: 'kept' };
  const primary = await LocalCluster.start({ binaries, dataDir: primaryDir }); // running: nothing starts
  return { standby, slot: (await dropStandbySlot(primary, EMBEDDED_STANDBY_SLOT)) ? 'dropped' : 'absent' };
}
