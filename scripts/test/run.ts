/**
 * The test command: unit tests, then the PostgreSQL suite once per server.
 *
 * Servers: with DATABASE_URL, only that one, checked before and after (shared-server.ts). Otherwise a throwaway cluster per leg of legs.ts — the whole
 * suite on 18 and (when the machine has it) 15, the version-sensitive files on 17 and 16. Each cluster is
 * started here, once per run, and removed afterwards; test files get its admin URL and data directory
 * through the environment (see test/support/pg.ts).
 *
 * The closing summary names every leg: the server version it ran on, or why it did not run. A leg the run
 * expects (18, 17 and 16 always, 15 when installed, any leg SLOTSTREAM_TEST_PG names) that could not run
 * fails the run, so a broken install cannot pass as a green run with less coverage.
 *
 * For iterating on a few files: `node --import tsx scripts/test/run.ts <name substrings>`, with
 * SLOTSTREAM_TEST_PG=18 (a comma list of 18, 17, 16, 15) to run only those servers and
 * SLOTSTREAM_TEST_UNIT=0 to skip the unit tests. `npm test` sets neither.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PostgresBinaries } from '../../src/devdb/binaries.ts';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';
import { connectSql } from '../../src/replication/connect.ts';
import { serverVersionNum } from '../../src/replication/server-version.ts';
import { quitAllUnder } from '../../test/support/postmaster.ts';
import { isVersionSensitive, LEGS, type Leg } from './legs.ts';
import { missingForSuite, ownObjects } from './shared-server.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const only = process.argv.slice(2); // optional file filter: substrings of test file names
const files = (dir: string) =>
  readdirSync(path.join(root, dir))
    .filter((f) => f.endsWith('.test.ts') && (only.length === 0 || only.some((o) => f.includes(o))))
    .map((f) => path.join(dir, f));

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/** One line of the closing summary; `missing` marks a leg the run expected and could not run. */
interface LegReport {
  line: string;
  counts?: Counts;
  missing?: boolean;
}
const reports: LegReport[] = [];

/** Runs node's test runner on `testFiles`, echoing its output; returns its summary counts. */
function nodeTest(
  label: string,
  testFiles: string[],
  env: NodeJS.ProcessEnv,
  concurrency: number,
): Promise<Counts> {
  console.log(`\n=== ${label}: ${testFiles.length} file(s)`);
  // A file whose tests are done exits even if something it started still holds the event loop (a reader
  // reconnecting to a server a failed test left stopped), and a test without a timeout of its own ends
  // after 10 minutes: a failure is reported, never a run that hangs.
  const bounds = ['--test-force-exit', `--test-timeout=${10 * 60_000}`];
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      ...bounds,
      `--test-concurrency=${concurrency}`,
      '--test-reporter=spec',
      ...testFiles,
    ],
    // A process group of its own, which an interrupted run ends as a whole (endTests).
    { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], detached: true },
  );
  running.child = child;
  let tail = '';
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    tail = (tail + chunk.toString()).slice(-4000);
  });
  return new Promise((resolve) => {
    child.on('close', (code) => {
      const count = (name: string) => Number(new RegExp(`ℹ ${name} (\\d+)`).exec(tail)?.[1] ?? 0);
      const failed = count('fail') + count('cancelled');
      resolve({
        passed: count('pass'),
        failed: failed === 0 && code !== 0 ? 1 : failed,
        skipped: count('skipped') + count('todo'),
      });
    });
  });
}

/** Runs `testFiles` and records the leg's summary line, with its duration. */
async function runLeg(label: string, testFiles: string[], env: NodeJS.ProcessEnv, concurrency: number) {
  const started = Date.now();
  const counts = await nodeTest(label, testFiles, env, concurrency);
  const seconds = Math.round((Date.now() - started) / 1000);
  reports.push({
    line: `${label}: ${testFiles.length} file(s), ${describe(counts)} in ${seconds} s`,
    counts,
  });
}

const describe = (c: Counts) => `${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`;

function pgEnv(
  adminUrl: string,
  legDir: string,
  local?: { dataDir: string; binDir: string },
): NodeJS.ProcessEnv {
  return {
    TMPDIR: path.join(legDir, 'tmp'),
    SLOTSTREAM_TEST_ADMIN_URL: adminUrl,
    SLOTSTREAM_TEST_PGDATA: local?.dataDir ?? '',
    SLOTSTREAM_TEST_PGBIN: local?.binDir ?? '',
  };
}

/** The server's own version (`18.4`), which the summary reports rather than what the leg meant to run. */
async function serverVersion(url: string): Promise<string> {
  const client = await connectSql({ connectionString: url });
  try {
    const num = await serverVersionNum((sql) => client.query(sql));
    return `${Math.floor(num / 10000)}.${num % 10000}`;
  } finally {
    await client.end();
  }
}

/**
 * What runs now, for an interrupted run to end: the test process, and the leg's directory; and whether it
 * was interrupted, after which no leg starts.
 */
const running: { child?: ChildProcess; dir?: string; interrupted?: boolean } = {};

/**
 * Ends the test processes: SIGTERM to their group (the test runner, each file's process, the commands
 * they spawned; test/support/signals.ts turns it into an exit that stops what they started), waited for.
 */
async function endTests(): Promise<void> {
  const child = running.child;
  if (child?.pid === undefined) return;
  const closed = child.exitCode === null && child.signalCode === null ? once(child, 'close') : undefined;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-(child.pid as number), s);
    } catch {
      // The group is gone.
    }
  };
  signal('SIGTERM');
  // A process that does not end on SIGTERM must not keep the run from cleaning up.
  const stubborn = setTimeout(() => signal('SIGKILL'), 10_000);
  await closed;
  clearTimeout(stubborn);
}

// Ctrl-C or a CI timeout must not leave a server running and its files behind: end the tests, then every
// server under the leg's directory (its cluster and those the tests made; immediate shutdown, waited for)
// and the directory, then exit as interrupted.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, async () => {
    running.interrupted = true;
    await endTests();
    const dir = running.dir;
    if (dir !== undefined) {
      await quitAllUnder(dir);
      rmSync(dir, { recursive: true, force: true });
    }
    process.exit(130);
  });

/**
 * Runs `body` with a leg's directory: the data of the leg's cluster, if it makes one, goes in `data`, and
 * `tmp` is the test processes' TMPDIR, so what they make in temporary directories (clusters, standbys,
 * spool files) is under it too. Afterwards the directory is removed, whatever happened; a server the tests
 * left running there is ended and fails the run, naming its directory.
 */
async function withLegDirectory(body: (dir: string) => Promise<void>): Promise<void> {
  if (running.interrupted) return;
  const dir = await mkdtemp(path.join(tmpdir(), 'slotstream-test-'));
  running.dir = dir;
  try {
    await mkdir(path.join(dir, 'tmp'));
    await body(dir);
  } finally {
    const left = await quitAllUnder(path.join(dir, 'tmp'));
    if (left.length > 0)
      reports.push({
        line: `the tests left servers running in ${left.map((d) => path.relative(dir, d)).join(', ')}`,
        counts: { passed: 0, failed: 1, skipped: 0 },
      });
    await rm(dir, { recursive: true, force: true });
    running.dir = undefined;
  }
}

async function withCluster(leg: Leg, binaries: PostgresBinaries, testFiles: string[]): Promise<void> {
  await withLegDirectory(async (dir) => {
    const dataDir = path.join(dir, 'data');
    let cluster: LocalCluster | undefined;
    try {
      cluster = await LocalCluster.start({ binaries, dataDir });
      const version = await serverVersion(cluster.url());
      // A bumped alias or a stray install must not pass as the version the leg is there to cover.
      if (version.split('.')[0] !== leg.major) {
        reports.push({
          line: `PostgreSQL ${leg.major} (${leg.source}): MISSING — its binaries run PostgreSQL ${version}`,
          missing: true,
        });
        return;
      }
      const what = leg.scope === 'all' ? '' : ', version-sensitive files';
      await runLeg(
        `PostgreSQL ${version} (${leg.source}${what})`,
        testFiles,
        pgEnv(cluster.url(), dir, { dataDir, binDir: binaries.binDir }),
        1,
      );
    } catch (error) {
      reports.push({
        line: `PostgreSQL ${leg.major} (${leg.source}): MISSING — the cluster did not start: ${(error as Error).message}`,
        missing: true,
      });
    } finally {
      await cluster?.stop('immediate').catch(() => {});
    }
  });
}

/**
 * The suite on the server DATABASE_URL names: only if it and its role can run it, and failed if it leaves
 * any database, role or slot of its own there (those it found there before are not its to answer for: a
 * run that was killed, or another run on the same server).
 */
async function runSharedServerLeg(url: string): Promise<void> {
  const version = await serverVersion(url);
  const name = `PostgreSQL ${version} at DATABASE_URL`;
  const missing = await missingForSuite(url);
  if (missing.length > 0) {
    reports.push({ line: `${name}: MISSING — the suite needs ${missing.join('; ')}`, missing: true });
    return;
  }
  const before = await ownObjects(url);
  await withLegDirectory((dir) => runLeg(name, pgFiles, pgEnv(url, dir), 1));
  const left = [...(await ownObjects(url))].filter((o) => !before.has(o));
  if (left.length > 0)
    reports.push({
      line: `${name}: the tests left behind ${left.join(', ')}`,
      counts: { passed: 0, failed: 1, skipped: 0 },
    });
}

async function runServerLeg(leg: Leg, selected: string[] | undefined, pgFiles: string[]): Promise<void> {
  const name = `PostgreSQL ${leg.major} (${leg.source})`;
  if (selected !== undefined && !selected.includes(leg.major)) {
    reports.push({ line: `${name}: skipped, not in SLOTSTREAM_TEST_PG=${selected.join(',')}` });
    return;
  }
  const binaries = leg.find();
  if (typeof binaries === 'string') {
    // Expected when the install should have it, or when asked for by name.
    const expected = leg.required || selected !== undefined;
    reports.push({
      line: `${name}: ${expected ? 'MISSING' : 'skipped, not installed here'} — ${binaries}`,
      missing: expected,
    });
    if (expected) console.log(`\n=== ${name}: MISSING — ${binaries}`);
    return;
  }
  const testFiles =
    leg.scope === 'all' ? pgFiles : pgFiles.filter((f) => isVersionSensitive(path.join(root, f)));
  if (testFiles.length === 0) {
    reports.push({
      line: `${name}: skipped, no ${leg.scope === 'all' ? '' : 'version-sensitive '}file matches`,
    });
    return;
  }
  await withCluster(leg, binaries, testFiles);
}

const selected = process.env.SLOTSTREAM_TEST_PG?.split(',').map((v) => v.trim());
const pgFiles = files('test/pg');

const unitFiles = files('test/unit');
if (process.env.SLOTSTREAM_TEST_UNIT === '0') reports.push({ line: 'unit: skipped, SLOTSTREAM_TEST_UNIT=0' });
else if (unitFiles.length === 0) reports.push({ line: 'unit: skipped, no file matches' });
else await runLeg('unit', unitFiles, {}, 2);
if (process.env.DATABASE_URL) await runSharedServerLeg(process.env.DATABASE_URL);
else {
  for (const major of selected ?? []) {
    if (!LEGS.some((leg) => leg.major === major))
      reports.push({
        line: `PostgreSQL ${major}: MISSING — SLOTSTREAM_TEST_PG names it, and no leg runs it (${LEGS.map((l) => l.major).join(', ')} do)`,
        missing: true,
      });
  }
  for (const leg of LEGS) await runServerLeg(leg, selected, pgFiles);
}

// The closing lines that CI and people read: each leg, then the sum over them.
const totals = { passed: 0, failed: 0, skipped: 0 };
for (const { counts } of reports) {
  totals.passed += counts?.passed ?? 0;
  totals.failed += counts?.failed ?? 0;
  totals.skipped += counts?.skipped ?? 0;
}
if (running.interrupted) reports.push({ line: 'interrupted: the legs after it did not run', missing: true });
const missing = reports.filter((r) => r.missing).length;
console.log(`\n=== summary\n${reports.map((r) => `  ${r.line}`).join('\n')}`);
console.log(`\n${describe(totals)}${missing > 0 ? `, ${missing} expected leg(s) missing` : ''}`);
process.exitCode = totals.failed > 0 || missing > 0 ? 1 : 0;
