/** Helpers the benchmarks share. */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import pg from 'pg';

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

/** A process's parent and its CPU seconds so far (user + system), from /proc; undefined once it is gone. */
export function procStat(pid: number): { ppid: number; cpu: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
    const at = (n: number) => Number(fields[n - 3]);
    return { ppid: at(4), cpu: (at(14) + at(15)) / CLOCK_TICKS };
  } catch {
    return undefined;
  }
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
