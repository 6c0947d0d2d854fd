import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PostgresBinaries } from './binaries.ts';
import { LOCAL_SERVER_SETTINGS } from './server-settings.ts';

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

/** As root, the `postgres` account the server runs as (created if missing); otherwise undefined. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const id = async () => {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
  };
  try {
    return await id();
  } catch {
    await run('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return await id();
  }
}

/**
 * As root the server runs as `postgres`, which must be able to reach its binaries and data directory: a
 * checkout in a private directory (mktemp -d, /root) would stop initdb with "Permission denied". Adds the
 * search bit for others (o+x: enter, not list or read) to each directory on the way that lacks it, and
 * says so.
 */
async function letOthersThrough(dir: string): Promise<void> {
  for (let d = dir; ; d = path.dirname(d)) {
    const { mode } = await stat(d);
    if ((mode & 0o001) === 0) {
      await chmod(d, (mode & 0o7777) | 0o001);
      console.error(`slotstream: chmod o+x ${d}, so the postgres user can reach the server's files`);
    }
    if (path.dirname(d) === d) return;
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
