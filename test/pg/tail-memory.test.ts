/**
 * `slotstream tail` in bounded memory: the real command, with Node's default settings, prints one
 * 1,000,000-row transaction, and its peak RSS stays under 200 MB. The peak is the kernel's own (VmHWM of
 * the command's node process), not a sample that could miss it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { spawnCli } from '../support/cli.ts';
import { freshDatabase, query } from '../support/pg.ts';

const ROWS = 1_000_000;
const RSS_LIMIT_MB = 200;

const url = await freshDatabase('tail_memory');

/** Peak resident set size of a live process, in MB. */
function peakRssMb(pid: number): number {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  assert.ok(kb, `no VmHWM for process ${pid}`);
  return Number(kb) / 1024;
}

test(`tail prints a ${ROWS.toLocaleString('en-US')}-row transaction under ${RSS_LIMIT_MB} MB RSS`, {
  timeout: 600_000,
}, async () => {
  await query(url, 'CREATE TABLE tail_memory (id int NOT NULL, note text NOT NULL)');
  await query(url, 'CREATE PUBLICATION tail_memory FOR TABLE tail_memory');
  // Before the write, so the whole transaction waits in the slot and tail gets it as fast as it can take it.
  await query(url, "SELECT pg_create_logical_replication_slot('tail_memory', 'pgoutput')");
  await query(url, `INSERT INTO tail_memory SELECT n, 'row ' || n FROM generate_series(1, ${ROWS}) AS n`);

  // spawnCli runs node itself on bin/slotstream.js, so the pid is the command's own process.
  const tail = spawnCli([
    'tail',
    '--slot',
    'tail_memory',
    '--publication',
    'tail_memory',
    '--database-url',
    url,
  ]);
  let stderr = '';
  tail.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => tail.on('close', resolve));
  let lines = 0;
  let first = '';
  let last = Buffer.alloc(0);
  const printed = new Promise<void>((resolve) => {
    tail.stdout.on('data', (chunk: Buffer) => {
      if (lines === 0) first = chunk.subarray(0, chunk.indexOf(10)).toString();
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      last = Buffer.concat([last, chunk]).subarray(-300); // ends with the last line so far
      if (lines >= ROWS) resolve();
    });
    void exited.then(() => resolve());
  });
  await printed;
  const peakMb = tail.exitCode === null ? peakRssMb(tail.pid as number) : Number.NaN;
  tail.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  assert.equal(lines, ROWS, 'one line per row');
  const lastLine = last.toString().trimEnd().split('\n').at(-1) ?? '';
  const ids = [first, lastLine].map((line) => (JSON.parse(line) as { row: { id: number } }).row.id);
  assert.deepEqual(ids, [1, ROWS]);

  console.log(
    `# tail, ${ROWS.toLocaleString('en-US')} rows in one transaction: peak RSS ${peakMb.toFixed(1)} MB`,
  );
  assert.ok(peakMb < RSS_LIMIT_MB, `peak RSS ${peakMb.toFixed(1)} MB`);
});
