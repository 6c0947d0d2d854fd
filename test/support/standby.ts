/**
 * Hot standbys of the run's cluster, for test files: each in a temporary directory of its own, streaming
 * from a physical slot of its own on the run's cluster. After the file's tests, whatever happened, every
 * standby made here is stopped, its directory removed and its slot dropped (a slot left behind would pin
 * the primary's WAL for the rest of the suite).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import type { PostgresBinaries } from '../../src/devdb/binaries.ts';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';
import { dropStandbySlot } from '../../src/devdb/standby.ts';
import type { EndpointProxy } from './endpoint-proxy.ts';
import { adminUrl, localCluster, query } from './pg.ts';
import { quitPostmaster } from './postmaster.ts';
import { waitFor } from './replication.ts';

/** Logical decoding on a standby, pg_log_standby_snapshot(): PostgreSQL 16 and later. */
export const DECODING_ON_STANDBY = 160000;

export async function serverVersion(): Promise<number> {
  const [row] = await query<{ v: string }>(adminUrl(), "SELECT current_setting('server_version_num') AS v");
  return Number(row?.v);
}

export interface TestStandbys {
  /** The run's cluster. */
  primary: LocalCluster;
  binaries: PostgresBinaries;
  /** A new standby of the primary, in a directory named `name`, on a slot of this file's; started. */
  start(name: string): Promise<LocalCluster>;
  /** Where the standby `name` is made, for tests that make it themselves. */
  dataDir(name: string): string;
  slot(name: string): string;
}

/**
 * Standbys for this test file, or undefined when the run's server is not a local cluster (DATABASE_URL).
 * Call it at the top level of the file before `freshDatabase`, `migratedDatabase` or `AppDeployment.create`:
 * its clean-up then runs before their databases are dropped, so no standby is replaying the drop of a
 * database its slots decode.
 */
export async function testStandbys(label: string): Promise<TestStandbys | undefined> {
  const primary = await localCluster();
  const binDir = process.env.SLOTSTREAM_TEST_PGBIN;
  if (primary === undefined || !binDir) return undefined;
  const binaries = { binDir, label: binDir };
  const dir = await mkdtemp(path.join(tmpdir(), `slotstream-standby-${label}-`));
  const suffix = randomBytes(3).toString('hex');
  const made: string[] = [];
  const standbys: TestStandbys = {
    primary,
    binaries,
    dataDir: (name) => path.join(dir, name),
    slot: (name) => `${label}_${name}_${suffix}`,
    async start(name) {
      made.push(name);
      return LocalCluster.startStandby({
        primary,
        binaries,
        dataDir: standbys.dataDir(name),
        slot: standbys.slot(name),
      });
    },
  };
  // Should the test process end before its `after` hooks run, no standby outlives it: SIGQUIT to a
  // postmaster is PostgreSQL's immediate shutdown, and a signal is all an exit handler can still send.
  const quitAll = () => {
    for (const name of made) quitPostmaster(standbys.dataDir(name));
  };
  process.once('exit', quitAll);
  after(async () => {
    process.off('exit', quitAll);
    try {
      for (const name of made) {
        // Running, or left running by a start that failed: stop it (no start happens, as it runs).
        if (existsSync(path.join(standbys.dataDir(name), 'postmaster.pid')))
          await LocalCluster.start({ binaries, dataDir: standbys.dataDir(name) }).then((c) =>
            c.stop('immediate'),
          );
        await dropStandbySlot(primary, standbys.slot(name));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  return standbys;
}

/**
 * Points `standby`'s replication at `link` (an EndpointProxy in front of its primary), as application
 * `name` (what synchronous_standby_names would name), and waits until it streams through it: a link the
 * test can hold or cut.
 */
export async function streamThrough(standby: LocalCluster, link: EndpointProxy, name: string): Promise<void> {
  await query(
    standby.url(),
    `ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=${link.port} user=postgres dbname=postgres application_name=${name}'`,
  );
  await query(standby.url(), 'SELECT pg_reload_conf()');
  await waitFor(`${name} to stream through the link`, async () => {
    const rows = await query(
      standby.url(),
      "SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming' AND sender_port = $1",
      [link.port],
    );
    return rows.length > 0;
  });
}
