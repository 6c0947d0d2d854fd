/**
 * TransactionAssembler: pgoutput messages (real frames captured from PostgreSQL, see fixtures/pgoutput) into
 * whole transactions, without a server: pass-through, redelivery, cut-off sessions, streamed transactions.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import type { ReplicationEvent } from '../../src/replication/events.ts';
import { type Lsn, parseLsn } from '../../src/replication/lsn.ts';
import type { CommitMessage, InsertMessage } from '../../src/replication/pgoutput/types.ts';
import { PositionTracker } from '../../src/replication/positions.ts';
import { createSpoolDirectory } from '../../src/replication/spool.ts';
import { TransactionAssembler } from '../../src/replication/transaction-assembler.ts';
import { type Fixture, loadFixture, loadFixtures } from './fixtures/pgoutput/load.ts';

const spool = createSpoolDirectory();
after(() => spool.remove());

interface Frame {
  lsn: Lsn;
  message: Buffer;
}

function captured(fixture: Fixture, scenario: string): Frame[] {
  const s = fixture.scenarios[scenario];
  assert.ok(s, `${fixture.id} has scenario ${scenario}`);
  return s.frames.map((f) => ({ lsn: parseLsn(f.lsn), message: Buffer.from(f.hex, 'hex') }));
}

function assembler(): { transactions: TransactionAssembler; positions: PositionTracker } {
  const positions = new PositionTracker(0n);
  const transactions = new TransactionAssembler(positions);
  transactions.startSession(spool.dir);
  return { transactions, positions };
}

/** Feeds frames in order; the events each one completed (a Stream Commit's replay included). */
function feed(transactions: TransactionAssembler, frames: Frame[]): ReplicationEvent[][] {
  return frames.map(({ lsn, message }) => {
    const events: ReplicationEvent[] = [];
    for (let e = transactions.receive(lsn, message); e !== undefined; e = transactions.replayed())
      events.push(e);
    return events;
  });
}

const tags = (events: ReplicationEvent[]) => events.map((e) => e.tag);
const inserts = (events: ReplicationEvent[]) => events.filter((e): e is InsertMessage => e.tag === 'insert');

/** An ordinary Begin … Commit around `changes`, with commit LSN `commitLsn`. */
function ordinaryTransaction(xid: number, commitLsn: Lsn, changes: Buffer[]): Frame[] {
  const begin = Buffer.alloc(21);
  begin[0] = 0x42; // B
  begin.writeBigUInt64BE(commitLsn, 1);
  begin.writeUInt32BE(xid, 17);
  const commit = Buffer.alloc(26);
  commit[0] = 0x43; // C
  commit.writeBigUInt64BE(commitLsn, 2);
  commit.writeBigUInt64BE(commitLsn + 0x30n, 10);
  return [begin, ...changes, commit].map((message) => ({ lsn: commitLsn, message }));
}

/** A change from inside a stream block, as the ordinary path sends it: without the leading xid. */
function outsideStream(streamed: Buffer): Buffer {
  return Buffer.concat([streamed.subarray(0, 1), streamed.subarray(5)]);
}

describe('ordinary transactions', () => {
  const dml = captured(loadFixture('pg18-proto1'), 'dml'); // one transaction per statement: B R I I C, B U C, …
  const firstCommit = dml.findIndex((f) => f.message[0] === 0x43) + 1;

  test('pass straight through, each message as it arrives, and are whole at their commit', () => {
    const { transactions, positions } = assembler();
    const yielded = feed(transactions, dml.slice(0, firstCommit));
    assert.deepEqual(yielded.map(tags), [['begin'], ['relation'], ['insert'], ['insert'], ['commit']]);
    const commit = yielded.at(-1)?.[0] as CommitMessage;
    assert.equal(positions.idle, false, 'delivered, not yet acknowledged');
    positions.acknowledge(commit.endLsn);
    assert.equal(positions.idle, true);
    assert.equal(transactions.endSession(), undefined, 'nothing was cut off');
  });

  test('one redelivered after a reconnect (commit LSN at or below the last delivered) is skipped', () => {
    const { transactions, positions } = assembler();
    const secondCommit = dml.findIndex((f, i) => i >= firstCommit && f.message[0] === 0x43) + 1;
    const delivered = feed(transactions, dml.slice(0, secondCommit)).flat();
    transactions.endSession();
    positions.restart();
    // The slot restarts from the last acknowledgement: both transactions come again, then the rest.
    transactions.startSession(spool.dir);
    const again = feed(transactions, dml).flat();
    const xids = (events: ReplicationEvent[]) => events.flatMap((e) => (e.tag === 'begin' ? [e.xid] : []));
    assert.deepEqual(xids(delivered), [758, 759]);
    assert.equal(xids(again)[0], 760, 'the two delivered ones are skipped, with their changes');
    assert.equal(again.length + delivered.length, feed(assembler().transactions, dml).flat().length);
    for (const e of again.filter((e) => e.tag === 'commit')) positions.acknowledge(e.endLsn);
    assert.equal(positions.idle, true, 'the skipped transactions hold nothing back');
  });

  test('a session ending mid-transaction gives `incomplete`, and the transaction comes whole next time', () => {
    const { transactions } = assembler();
    const [begin] = feed(transactions, dml.slice(0, 3))[0] ?? [];
    assert.equal(begin?.tag, 'begin');
    assert.deepEqual(transactions.endSession(), { tag: 'incomplete', xid: 758, finalLsn: begin.finalLsn });
    assert.equal(transactions.endSession(), undefined, 'said once');
    transactions.startSession(spool.dir);
    const again = feed(transactions, dml.slice(0, firstCommit)).flat();
    assert.deepEqual(tags(again), ['begin', 'relation', 'insert', 'insert', 'commit']);
  });

  test('a slot created anew delivers transactions at LSNs already delivered on the old one', () => {
    const { transactions } = assembler();
    feed(transactions, dml);
    transactions.endSession();
    transactions.slotCreated();
    transactions.startSession(spool.dir);
    assert.equal(tags(feed(transactions, dml.slice(0, firstCommit)).flat()).length, 5);
  });
});

// Every capture with streaming on: protocols 2 to 4, PostgreSQL 15 and 18, `on` and `parallel`.
for (const fixture of loadFixtures().filter((f) => f.options.streaming !== 'off' && !f.options.binary)) {
  describe(`streamed transactions (${fixture.id})`, () => {
    // S R I×300 M R T R I×70 E  S R I×230 E  c — an ALTER TABLE adds bulk.extra half-way.
    const streamCommit = captured(fixture, 'stream_commit');
    const lastInsert = streamCommit.filter((f) => f.message[0] === 0x49).at(-1)?.message as Buffer;

    /**
     * pgoutput counts relations sent inside a committed streamed transaction as sent: a later ordinary
     * transaction's changes rely on them. Its one change: the streamed transaction's last insert again.
     */
    function later(transactions: TransactionAssembler, after: CommitMessage): InsertMessage | undefined {
      const frames = ordinaryTransaction(9_999, after.commitLsn + 0x100n, [outsideStream(lastInsert)]);
      const events = feed(transactions, frames).flat();
      assert.deepEqual(tags(events), ['begin', 'insert', 'commit']);
      return inserts(events)[0];
    }

    test('are delivered whole at Stream Commit, in the relations announced inside their chunks', () => {
      const { transactions, positions } = assembler();
      const yielded = feed(transactions, streamCommit);
      assert.deepEqual(yielded.slice(0, -1).flat(), [], 'nothing before the commit');
      const events = yielded.at(-1) ?? [];
      const begin = events[0];
      const commit = events.at(-1);
      assert.ok(begin?.tag === 'begin' && commit?.tag === 'commit');
      assert.equal(begin.finalLsn, commit.commitLsn);
      assert.equal(transactions.eventLsn, streamCommit.at(-1)?.lsn, 'the commit is at the Stream Commit');
      assert.deepEqual([...new Set(tags(events.slice(1, -1)))].sort(), [
        'insert',
        'message',
        'relation',
        'truncate',
      ]);
      const rows = inserts(events).filter((e) => e.relation.name === 'bulk');
      assert.equal(rows.length, 600);
      assert.ok(
        rows.slice(0, 300).every((e) => !('extra' in e.new)),
        'before the ALTER TABLE',
      );
      assert.ok(
        rows.slice(300).every((e) => e.new.extra === e.new.id),
        'after it: the new column',
      );
      positions.acknowledge(commit.endLsn);
      assert.equal(positions.idle, true);
      assert.deepEqual(Object.keys(later(transactions, commit)?.new ?? {}), ['id', 'pad', 'extra']);
    });

    test('a redelivered one is skipped, and its relations still count', () => {
      const { transactions } = assembler();
      const commit = feed(transactions, streamCommit).flat().at(-1) as CommitMessage;
      transactions.endSession();
      transactions.startSession(spool.dir);
      assert.deepEqual(feed(transactions, streamCommit).flat(), []);
      assert.deepEqual(Object.keys(later(transactions, commit)?.new ?? {}), ['id', 'pad', 'extra']);
    });

    test('a replay cut off by the end of the session releases its spool, and comes whole next time', () => {
      const { transactions } = assembler();
      const openFiles = () => readdirSync('/proc/self/fd').length;
      const before = openFiles();
      const last = streamCommit.at(-1) as Frame;
      feed(transactions, streamCommit.slice(0, -1));
      const begin = transactions.receive(last.lsn, last.message);
      assert.ok(begin?.tag === 'begin');
      assert.equal(transactions.replayed()?.tag, 'relation', 'the consumer pulled part of it');
      assert.deepEqual(
        transactions.endSession(),
        { tag: 'incomplete', xid: begin.xid, finalLsn: begin.finalLsn },
        'the consumer is told to forget the part it received',
      );
      assert.equal(openFiles(), before, 'the spool file is closed');
      assert.equal(transactions.replayed(), undefined);
      transactions.startSession(spool.dir);
      assert.equal(inserts(feed(transactions, streamCommit).flat()).length, 600);
    });

    test('one cut off mid-stream is not `incomplete`: it is streamed again and delivered once', () => {
      const { transactions } = assembler();
      assert.deepEqual(feed(transactions, streamCommit.slice(0, 400)).flat(), []);
      assert.equal(transactions.endSession(), undefined, 'the consumer received none of it');
      transactions.startSession(spool.dir);
      assert.equal(inserts(feed(transactions, streamCommit).flat()).length, 600);
    });

    test('are dropped at Stream Abort: nothing reaches the consumer, nothing holds keepalives back', () => {
      const { transactions, positions } = assembler();
      const streamAbort = captured(fixture, 'stream_abort'); // S R I×379 E A
      assert.deepEqual(feed(transactions, streamAbort).flat(), []);
      assert.equal(positions.idle, true);
    });

    test('a subtransaction aborted after it was streamed is cut out of the transaction', () => {
      // 50 rows, SAVEPOINT, 600 rows, ROLLBACK TO it, 10 rows: S R I×391 E A(subxid) S R I×10 E c.
      const { transactions } = assembler();
      const events = feed(transactions, captured(fixture, 'stream_subxact_abort')).flat();
      assert.equal(inserts(events).length, 60);
      assert.deepEqual([events[0]?.tag, events.at(-1)?.tag], ['begin', 'commit']);
    });
  });
}
