/**
 * kill -9 of a StreamReader process (runtime-child.ts, the chat caches) mid-transaction, again and again
 * while a writer commits transactions of 50 to 300 rows: each new process goes on from the slot, and every
 * row reaches the processes as stored and in order, the rows of a transaction cut off by a kill coming
 * again whole. A kill counts as mid-transaction when the killed process had been handed rows it had not
 * applied yet (its log ends with rows, not with its position moving past them).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { checkReceived, type EventRow, eventRows, FaultWorkload } from '../support/fault-workload.ts';
import { waitFor } from '../support/replication.ts';
import { migratedDatabase } from '../support/runtime.ts';
import { ReaderProcess } from '../support/runtime-process.ts';

const KILLS = 4;
const SLOT = 'faults_process';

const url = await migratedDatabase('faults_process');
const dir = mkdtempSync(path.join(tmpdir(), 'slotstream-faults-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const logFile = path.join(dir, 'reader.log');

type LogLine = { row: EventRow } | { applied: bigint };

/** runtime-child.ts's log; a last line cut short by the kill is left out. The child creates the file with
 * its first row, so until then there is nothing to read. */
function readLog(): LogLine[] {
  const lines: LogLine[] = [];
  if (!existsSync(logFile)) return lines;
  for (const text of readFileSync(logFile, 'utf8').split('\n')) {
    let r: { p?: string; id?: string; room?: string; content?: unknown; applied?: string };
    try {
      r = JSON.parse(text);
    } catch {
      continue;
    }
    if (r.applied !== undefined) lines.push({ applied: BigInt(r.applied) });
    else if (r.p !== undefined)
      lines.push({
        row: { p: BigInt(r.p), event_id: r.id ?? '', room_id: r.room ?? '', content: r.content },
      });
  }
  return lines;
}

const endsMidTransaction = (log: LogLine[]) => {
  const last = log.at(-1);
  return last !== undefined && 'row' in last;
};

test('kill -9 of a reader process mid-transaction, again and again: every row once, in order, as stored', {
  timeout: 300_000,
}, async () => {
  let reader = await ReaderProcess.start(url, SLOT, logFile);
  const workload = new FaultWorkload(url, 'reader-faults-process', undefined, [50, 300]);
  let kills = 0;
  let midTransaction = 0;
  while (kills < KILLS) {
    const started = readLog().length;
    // Rows of this process's own, and the last of them not applied yet: it is inside a transaction.
    await waitFor('the reader inside a transaction', async () => {
      const log = readLog();
      return log.length > started + 50 && endsMidTransaction(log);
    });
    const exited = new Promise((resolve) => reader.child.once('exit', resolve));
    reader.kill();
    await exited;
    kills++;
    if (endsMidTransaction(readLog())) midTransaction++;
    reader = await ReaderProcess.start(url, SLOT, logFile);
  }
  await workload.stop();
  // Not waitForPosition: a new process starts at the database's head, before the slot has caught up.
  await waitFor(
    'the last process to be handed the last row',
    async () => readLog().some((line) => 'row' in line && line.row.p >= workload.lastWritten),
    120_000,
  );
  const final = await reader.close();

  const received = readLog().flatMap((line) => ('row' in line ? [line.row] : []));
  const redelivered = checkReceived(received, await eventRows(url));
  console.log(
    `# ${kills} kills (${midTransaction} mid-transaction): ${received.length} rows handed over, ${redelivered} again after a kill`,
  );
  assert.ok(midTransaction > 0, 'some kill fell inside a transaction');
  assert.ok(redelivered > 0, 'what a killed process had not applied came again');
  assert.deepEqual(final.warnings, []);
  assert.equal(final.reader.resets, 0);
});
