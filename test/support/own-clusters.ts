/**
 * Clusters a test file makes for itself (never the run's: these get killed, promoted, cut off), in one
 * temporary directory, with everything they need undone whatever happens: each server is stopped after the
 * file's tests, or at process exit if the file dies first, proxies are closed, the directory removed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import type { PostgresBinaries } from '../../src/devdb/binaries.ts';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';
import { EndpointProxy } from './endpoint-proxy.ts';
import { quitAndWait, quitPostmaster } from './postmaster.ts';

export class OwnClusters {
  /** Why the file's tests cannot run here (undefined: they can), for `test(…, { skip })`. */
  readonly skip: string | undefined;
  readonly #binaries: PostgresBinaries | undefined;
  readonly #dir: string;
  readonly #dataDirs: string[] = [];
  readonly #clusters: LocalCluster[] = [];
  readonly #proxies: EndpointProxy[] = [];

  private constructor(dir: string, binaries: PostgresBinaries | undefined) {
    this.#dir = dir;
    this.#binaries = binaries;
    this.skip = binaries
      ? undefined
      : 'the run has no local PostgreSQL binaries (DATABASE_URL): this test makes and kills clusters of its own';
  }

  /** The leg's binaries (SLOTSTREAM_TEST_PGBIN), a temporary directory, and the clean-up registered. */
  static async create(label: string): Promise<OwnClusters> {
    const binDir = process.env.SLOTSTREAM_TEST_PGBIN;
    const dir = await mkdtemp(path.join(tmpdir(), `slotstream-${label}-`));
    const own = new OwnClusters(dir, binDir ? { binDir, label: binDir } : undefined);
    const quitAll = () => {
      for (const dataDir of own.#dataDirs) quitPostmaster(dataDir);
    };
    process.once('exit', quitAll);
    after(async () => {
      try {
        for (const proxy of own.#proxies) await proxy.close();
        for (const cluster of own.#clusters) await cluster.stop('immediate').catch(quitAll);
        // One whose start failed half-way may run without a LocalCluster: ended by its directory.
        for (const dataDir of own.#dataDirs) await quitAndWait(dataDir);
      } finally {
        process.off('exit', quitAll);
        await rm(dir, { recursive: true, force: true });
      }
    });
    return own;
  }

  get binaries(): PostgresBinaries {
    if (!this.#binaries) throw new Error(this.skip);
    return this.#binaries;
  }

  async start(name: string, settings: Record<string, string> = {}): Promise<LocalCluster> {
    const cluster = await LocalCluster.start({
      binaries: this.binaries,
      dataDir: this.#dataDir(name),
      settings,
    });
    this.#clusters.push(cluster);
    return cluster;
  }

  /** A hot standby of `primary` from a base backup, streaming from the physical slot `slot` there. */
  async startStandby(
    name: string,
    primary: LocalCluster,
    slot: string,
    settings: Record<string, string> = {},
  ): Promise<LocalCluster> {
    const cluster = await LocalCluster.startStandby({
      primary,
      binaries: this.binaries,
      dataDir: this.#dataDir(name),
      slot,
      settings,
    });
    this.#clusters.push(cluster);
    return cluster;
  }

  /** A TCP endpoint in front of `cluster`, closed after the file's tests. */
  async proxy(cluster: LocalCluster): Promise<EndpointProxy> {
    const proxy = await EndpointProxy.start(cluster.url());
    this.#proxies.push(proxy);
    return proxy;
  }

  #dataDir(name: string): string {
    const dataDir = path.join(this.#dir, name);
    this.#dataDirs.push(dataDir);
    return dataDir;
  }
}
