/**
 * A stream column's type changed under running readers. To a type the declaration still holds exactly
 * (numeric where int8 is declared): values are converted and a warning says so, at the Relation message and
 * at the next start. To one it cannot hold: only that reader stops, with an error naming the WAL position and
 * `slotstream slots reset NAME`; changing the type back does not help (the slot's WAL keeps the rows as
 * written), the reset does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventsStream } from '../../app/streams.ts';
import { parseLsn } from '../../src/replication/lsn.ts';
import { ColumnConversionWarning, SchemaChangeError } from '../../src/streams/errors.ts';
import { runCli } from '../support/cli.ts';
import { query } from '../support/pg.ts';
import { slotState } from '../support/replication.ts';
import { event, migratedDatabase, startReader, writerFor } from '../support/runtime.ts';

const url = await migratedDatabase('schema_change');
const writer = writerFor(url);
const ROOM = '!schema:test';
const write = (n: number) => writer.transaction((tx) => tx.insert(eventsStream, event(ROOM, n)));

/** A reader on `slot` that records warnings instead of failing on them. */
async function readerCollecting(slot: string) {
  const warnings: Error[] = [];
  const started = await startReader(url, slot, { onWarning: (warning) => void warnings.push(warning) });
  return { ...started, warnings };
}

const conversionsOf = (warnings: Error[]) => warnings.filter((w) => w instanceof ColumnConversionWarning);

test('a column changed to numeric where int8 is declared: values converted exactly, a warning, no stop', async (t) => {
  const { reader, updates, warnings } = await readerCollecting('convert');
  await write(1);
  await query(url, 'ALTER TABLE events ALTER COLUMN origin_server_ts TYPE numeric');
  t.after(() => query(url, 'ALTER TABLE events ALTER COLUMN origin_server_ts TYPE bigint'));
  const { position } = await write(2);
  await reader.waitForPosition(position, 30_000);

  const rows = updates
    .filter((u) => u.stream === 'events')
    .map((u) => (u.row as { origin_server_ts?: unknown } | null)?.origin_server_ts);
  assert.deepEqual(rows, [1764151200001n, 1764151200002n], 'int8 values, as declared, before and after');
  const [warning, ...more] = conversionsOf(warnings);
  assert.ok(warning instanceof ColumnConversionWarning, `a conversion warning: ${warnings.join('; ')}`);
  assert.equal(more.length, 0, 'once per Relation message');
  assert.equal(warning.column, 'origin_server_ts');
  assert.equal(warning.actual, 'numeric');
  assert.equal(warning.declared, 'int8');

  // A reader starting now sees the numeric column in the catalog: the same warning, and it starts.
  const later = await readerCollecting('convert_later');
  assert.equal(conversionsOf(later.warnings).length, 1, later.warnings.join('; '));
  await reader.close();
  await later.reader.close();
});

test('a type the declaration cannot hold stops that reader, naming the WAL position and `slots reset`', async (t) => {
  const slot = 'incompatible';
  const first = await readerCollecting(slot);
  const { position: before } = await write(10);
  await first.reader.waitForPosition(before, 30_000);
  await query(url, 'ALTER TABLE events ALTER COLUMN origin_server_ts TYPE text');
  let restored = false;
  t.after(async () => {
    if (!restored)
      await query(
        url,
        'ALTER TABLE events ALTER COLUMN origin_server_ts TYPE bigint USING origin_server_ts::bigint',
      );
  });
  await write(11);

  const failure = await first.reader.done.then(
    () => assert.fail('the reader went on'),
    (error: unknown) => error,
  );
  assert.ok(failure instanceof SchemaChangeError, String(failure));
  assert.equal(failure.slot, slot);
  assert.match(failure.message, /column "origin_server_ts": declared int8, but the table's column is text/);
  assert.match(
    failure.message,
    new RegExp(`committed at WAL position ${failure.lsn}, which slot "${slot}" delivers again`),
  );
  assert.match(failure.message, new RegExp(`slotstream slots reset ${slot}`));
  const held = await slotState(url, slot);
  assert.ok(
    held?.confirmed_flush_lsn && parseLsn(held.confirmed_flush_lsn) < parseLsn(failure.lsn),
    `not acked: confirmed ${held?.confirmed_flush_lsn}, the change at ${failure.lsn}`,
  );

  // Changed back: the slot still holds the text rows, and a new reader on it stops at the same place.
  await query(
    url,
    'ALTER TABLE events ALTER COLUMN origin_server_ts TYPE bigint USING origin_server_ts::bigint',
  );
  restored = true;
  const again = await readerCollecting(slot);
  const second = await again.reader.done.then(
    () => assert.fail('the reader went on'),
    (error: unknown) => error,
  );
  assert.ok(second instanceof SchemaChangeError, String(second));
  assert.equal(second.lsn, failure.lsn);

  // doctor finds it where the table no longer shows it: in what the idle slot holds.
  const diagnosed = await runCli(['doctor', '--database-url', url]);
  assert.match(diagnosed.stdout, /^ok {4}stream events: public\.events matches the declaration$/m);
  assert.match(
    diagnosed.stdout,
    new RegExp(
      `^fail {2}slot ${slot} pending changes: the transaction that committed at ${failure.lsn} .*column origin_server_ts: declared int8, but the table's column is text.* — fix: slotstream slots reset ${slot} `,
      'm',
    ),
  );
  assert.equal(diagnosed.code, 1);

  const reset = await runCli(['slots', 'reset', slot, '--database-url', url]);
  assert.equal(reset.code, 0, reset.stderr);
  assert.match(reset.stdout, new RegExp(`dropped slot ${slot}, skipping \\d+ bytes of WAL it held`));
  assert.match(reset.stdout, new RegExp(`created slot ${slot} \\(pgoutput[^)]*\\) at consistent point`));
  const fresh = await slotState(url, slot);
  assert.ok(
    fresh?.confirmed_flush_lsn && parseLsn(fresh.confirmed_flush_lsn) > parseLsn(failure.lsn),
    'the new slot starts past the change',
  );

  const healthy = await runCli(['doctor', '--database-url', url]);
  assert.match(
    healthy.stdout,
    new RegExp(`^ok {4}slot ${slot} pending changes: 0 message\\(s\\) decoded`, 'm'),
  );

  const after = await readerCollecting(slot);
  const { position } = await write(12);
  await after.reader.waitForPosition(position, 30_000);
  assert.deepEqual(
    after.updates
      .filter((u) => u.stream === 'events')
      .map((u) => (u.row as { origin_server_ts?: unknown } | null)?.origin_server_ts),
    [1764151200012n],
  );
  await after.reader.close();
});

test('slots reset refuses a slot in use, and names the process', async () => {
  const { reader } = await readerCollecting('busy');
  const refused = await runCli(['slots', 'reset', 'busy', '--database-url', url]);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /cannot reset replication slot "busy": it is in use by the process with PID \d+/,
  );
  assert.equal((await slotState(url, 'busy'))?.active, true, 'still there, still streaming');
  await reader.close();
});
