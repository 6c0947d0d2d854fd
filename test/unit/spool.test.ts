import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSpoolDirectory, TransactionSpool } from '../../src/replication/spool.ts';

const msg = (n: number, size = 10) => Buffer.alloc(size, n % 256);

function contents(spool: TransactionSpool): Buffer[] {
  const out: Buffer[] = [];
  for (const { lsn, payload } of spool.messages()) {
    assert.equal(lsn, BigInt(payload.length), 'each record keeps its WAL position');
    out.push(Buffer.from(payload));
  } // each view is valid only until the next
  return out;
}

test('spooled messages come back in order, across buffer flushes and oversized records', () => {
  const { dir, remove } = createSpoolDirectory();
  const spool = new TransactionSpool(dir, 700);
  const written: Buffer[] = [];
  for (let i = 0; i < 50_000; i++) {
    const m = msg(i, i === 20_000 ? 3 << 20 : 10 + (i % 90));
    written.push(m);
    spool.append(700, BigInt(m.length), m);
  }
  const read = contents(spool);
  assert.equal(read.length, written.length);
  assert.ok(read.every((b, i) => b.equals(written[i] as Buffer)));
  spool.dispose();
  remove();
});

test('aborting a subtransaction drops it and everything after it, in memory or on disk', () => {
  const { dir, remove } = createSpoolDirectory();
  for (const bulk of [10, 200_000]) {
    const spool = new TransactionSpool(dir, 1);
    const kept: Buffer[] = [];
    for (let i = 0; i < bulk; i++) {
      kept.push(msg(1, 20));
      spool.append(1, BigInt(msg(1, 20).length), msg(1, 20));
    }
    spool.append(2, BigInt(msg(2).length), msg(2)); // SAVEPOINT a
    spool.append(3, BigInt(msg(3).length), msg(3)); // SAVEPOINT b inside a
    spool.abortSubtransaction(2); // ROLLBACK TO a
    spool.append(4, BigInt(msg(4).length), msg(4)); // new work after the rollback
    kept.push(msg(4));
    spool.abortSubtransaction(3); // already gone: nothing happens
    const read = contents(spool);
    assert.equal(read.length, kept.length);
    assert.ok(read.every((b, i) => b.equals(kept[i] as Buffer)));
    spool.dispose();
  }
  remove();
});
