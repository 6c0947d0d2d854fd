import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PostgresBinaries } from './binaries.ts';
import { StandbyError } from './errors.ts';
import { LOCAL_SERVER_SETTINGS } from './server-settings.ts';
import { letOthersThrough, serverUser } from './server-user.ts';
import { isStandbyDir, prepareStandby, type StandbyOptions } from './standby.ts';

const run = promisify(execFile);

export interface LocalClusterOptions {
  binaries: PostgresBinaries;
  /** Data directory; created and initialised on first use, reused after. */
  dataDir: string;
  /** TCP port on 127.0.0.1; 0 picks a free one (remembered in the data directory for the next start). */
  port?: number;
  /** Extra server settings on top of LOCAL_SERVER_SETTINGS. */
  settings?: Record<string, string>;
}

/**
 * A PostgreSQL cluster on this machine, managed with initdb and pg_ctl so that any process (a test, the
 * CLI) can stop or restart it by its data directory. PostgreSQL refuses to run as root, so as root the
 * server runs as the `postgres` user (created when missing), and the data directory belongs to it.
 * Disposing it (`await using`) stops the server; the cluster's data directory stays for the next start.
 *
 * @example
 * ```ts
 * import { embeddedBinaries, LocalCluster } from 'slotstream/devdb';
 * await using cluster = await LocalCluster.start({ binaries: embeddedBinaries(), dataDir: 'tmp/pg' });
 * const url = cluster.url(); // a superuser on 127.0.0.1, wal_level=logical
 * await cluster.restart('immediate'); // a crash and recovery, for tests
 * ```
 */
export class LocalCluster {
  readonly dataDir: string;
  readonly port: number;
  readonly #binaries: PostgresBinaries;
  readonly #settings: Record<string, string>;

  private constructor(options: LocalClusterOptions, port: number) {
    this.dataDir = path.resolve(options.dataDir);
    this.port = port;
    this.#binaries = options.binaries;
    this.#settings = { ...LOCAL_SERVER_SETTINGS, ...options.settings };
  }

  /**
   * Initialises the data directory if needed and starts the server; resolves once it accepts connections.
   * Rejects with initdb's or pg_ctl's own words when they fail.
   */
  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const dataDir = path.resolve(options.dataDir);
    const portFile = path.join(dataDir, 'slotstream.port');
    let port = options.port ?? 0;
    if (port === 0 && existsSync(portFile)) port = Number(await readFile(portFile, 'utf8'));
    if (port === 0) port = await freePort();
    const cluster = new LocalCluster({ ...options, dataDir }, port);
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await cluster.#initdb();
    await writeFile(portFile, String(port));
    if (!(await cluster.isRunning()))
      await cluster.#pgCtl('start', '-w', '-t', '60', '-l', cluster.logFile, '-o', cluster.#serverArgs());
    return cluster;
  }

  /**
   * A hot standby of `options.primary` (a running LocalCluster), started on its own port. On first use its
   * data directory is made from a base backup of the primary, streaming from a physical slot
   * `options.slot` reserved there; after, it is started as it is and catches up. PostgreSQL 16+ can decode
   * on it (logical slots on the standby; see StreamReader's `primaryConnectionString`). Throws
   * StandbyError when `dataDir` holds something else or a promoted standby, or the slot is another
   * standby's. The standby's slot stays on the primary when it stops: `dropStandbySlot` when it is gone.
   *
   * @example
   * ```ts
   * import { dropStandbySlot, embeddedBinaries, LocalCluster, waitForReplay } from 'slotstream/devdb';
   * const binaries = embeddedBinaries();
   * const primary = await LocalCluster.start({ binaries, dataDir: 'tmp/pg' });
   * const standby = await LocalCluster.startStandby({
   *   primary, binaries, dataDir: 'tmp/standby', slot: 'standby_1',
   * });
   * await waitForReplay(standby, primary); // what the primary committed is visible on the standby
   * await standby.promote();               // a primary of its own, on a new timeline
   * await dropStandbySlot(primary, 'standby_1');
   * ```
   */
  static async startStandby(options: StandbyOptions): Promise<LocalCluster> {
    const dataDir = path.resolve(options.dataDir);
    await prepareStandby(options.primary, dataDir, options.slot);
    return LocalCluster.start({ ...options, dataDir });
  }

  /** Whether this cluster is a standby not yet promoted (its data directory has `standby.signal`). */
  get isStandby(): boolean {
    return isStandbyDir(this.dataDir);
  }

  /**
   * Ends a standby's recovery: it becomes a primary of its own, on a new timeline, and accepts writes once
   * this resolves (`pg_ctl promote -w`). Logical slots made on it stay. Throws StandbyError when this
   * cluster is not a standby.
   */
  async promote(): Promise<void> {
    if (!this.isStandby)
      throw new StandbyError(
        `${this.dataDir} is not a standby (or was promoted already): nothing to promote`,
      );
    await this.#pgCtl('promote', '-w', '-t', '60');
  }

  /** The server's log, in the data directory. */
  get logFile(): string {
    return path.join(this.dataDir, 'server.log');
  }

  /** A connection string for a superuser (`postgres`, trust authentication on loopback). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  /** Whether the server is running (`pg_ctl status`). */
  async isRunning(): Promise<boolean> {
    try {
      await this.#pgCtl('status');
      return true;
    } catch {
      return false;
    }
  }

  /** `fast` shuts down cleanly; `immediate` is a crash (recovery on the next start). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (await this.isRunning()) await this.#pgCtl('stop', '-w', '-t', '60', '-m', mode);
  }

  /** Stops the server (as `stop` does, in `mode`) and starts it again on the same port and settings. */
  async restart(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.stop(mode);
    await this.#pgCtl('start', '-w', '-t', '60', '-l', this.logFile, '-o', this.#serverArgs());
  }

  /** `stop()` ('fast'), for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #serverArgs(): string {
    const args = [`-p ${this.port}`];
    for (const [name, value] of Object.entries(this.#settings))
      args.push(`-c ${name}=${value === '' ? "''" : value}`);
    return args.join(' ');
  }

  async #initdb(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const owner = await serverUser();
    if (owner) {
      await chown(this.dataDir, owner.uid, owner.gid);
      await letOthersThrough(path.dirname(this.dataDir));
    }
    await this.#asServerUser('initdb', [
      '-D',
      this.dataDir,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--no-sync',
    ]);
  }

  #pgCtl(...args: string[]): Promise<unknown> {
    return this.#asServerUser('pg_ctl', ['-D', this.dataDir, ...args]);
  }

  async #asServerUser(tool: string, args: string[]): Promise<{ stdout: string }> {
    const binary = path.join(this.#binaries.binDir, tool);
    const owner = await serverUser();
    // LC_ALL=C: initdb picks the cluster's locale from the environment; a fixed one keeps runs comparable.
    const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
    try {
      if (!owner) return await run(binary, args, { env });
      await letOthersThrough(this.#binaries.binDir);
      return await run('runuser', ['-u', 'postgres', '--', binary, ...args], { env });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(
        `${tool} ${args[0] ?? ''} failed for ${this.dataDir}: ${e.stderr?.trim() || e.message}`,
      );
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
