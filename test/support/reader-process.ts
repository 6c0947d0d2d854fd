/**
 * A reader in a process of its own, for tests that kill it (SIGKILL) or measure its memory.
 *
 * argv: connectionString slot logFile [maxProtoVersion]
 * It appends one JSON line per event of interest to logFile with a synchronous write *before*
 * acknowledging, so a line on disk means "this transaction was delivered", whatever kills us next:
 *   {"start":"<confirmed_flush_lsn when we started>"}
 *   {"commitLsn":"…","endLsn":"…","rows":[orderings…]}   (rows omitted past 1000: then "count" and "sum")
 *   {"reset":"reason"}
 *   {"maxRssKb":N}                                          (every second, and at the end)
 * SIGTERM closes the subscription cleanly.
 */
import { appendFileSync } from 'node:fs';
import pg from 'pg';
import { subscribe } from '../../src/replication/subscribe.ts';

const [connectionString = '', slot = '', logFile = '', maxProto = '4'] = process.argv.slice(2);
const log = (record: object) =>
  appendFileSync(
    logFile,
    `${JSON.stringify(record, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
  );

const sql = new pg.Client(connectionString);
await sql.connect();
const { rows } = await sql.query(
  'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
  [slot],
);
await sql.end();
log({ start: rows[0]?.lsn ?? null, pid: process.pid });

const rss = setInterval(() => log({ maxRssKb: process.resourceUsage().maxRSS }), 1000);
rss.unref();

const sub = subscribe({
  connectionString,
  slot,
  publication: 'slotstream',
  ifSlotActive: 'wait',
  maxProtoVersion: Number(maxProto),
});
process.on('SIGTERM', () => void sub.close());

let orderings: number[] = [];
let count = 0;
let sum = 0;
for await (const event of sub) {
  if (event.tag === 'begin') {
    orderings = [];
    count = 0;
    sum = 0;
  } else if (event.tag === 'insert') {
    const ordering = Number(event.new.stream_ordering);
    count++;
    sum += ordering;
    if (orderings.length < 1000) orderings.push(ordering);
  } else if (event.tag === 'commit') {
    log(
      count <= 1000
        ? { commitLsn: event.commitLsn, endLsn: event.endLsn, rows: orderings }
        : { commitLsn: event.commitLsn, endLsn: event.endLsn, count, sum },
    );
    sub.ack(event);
  } else if (event.tag === 'reset') {
    log({ reset: event.reason });
  }
}
log({ maxRssKb: process.resourceUsage().maxRSS, closed: true });
