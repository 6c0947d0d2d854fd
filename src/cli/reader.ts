import { parseArgs } from 'node:util';
import { connectSql } from '../replication/connect.ts';
import { formatLsn, parseLsn } from '../replication/lsn.ts';
import { subscribe } from '../replication/subscribe.ts';
import type { Command } from './command.ts';
import { CONNECTION_USAGE, resolveConnection } from './connection.ts';
import { SLOT_OPTIONS, SLOT_USAGE, slotAndPublication } from './slot-options.ts';

/** What a reader reports about itself once a second. */
export interface ReaderStatus {
  slot: string;
  /** Position acknowledged to the server: every transaction before it is applied. */
  applied: string;
  /** WAL between the server's current position and what this reader applied. */
  lag_bytes: number;
  /** Age of the last applied commit while more is waiting, else 0. */
  lag_ms: number;
  updates_per_s: number;
  reconnects: number;
  resets: number;
}

export const reader: Command = {
  name: 'reader',
  summary: 'run one reader on a slot: apply and acknowledge its changes, report its position every second',
  usage: [
    'usage: slotstream reader --slot NAME [--publication NAME] [--json] [--database-url URL]',
    '',
    'Consumes the slot (created on first start), acknowledging each transaction once applied, and prints',
    'a status line every second: applied position, lag in bytes and milliseconds, updates per second.',
    'When another process holds the slot it waits for it. Ctrl-C or SIGTERM stops it cleanly; the slot stays.',
    '',
    ...SLOT_USAGE,
    '  --json              status lines as JSON objects',
    CONNECTION_USAGE,
  ].join('\n'),

  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...SLOT_OPTIONS,
        json: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    const { slot, publication } = slotAndPublication(values);
    const connection = await resolveConnection({
      databaseUrl: values['database-url'],
      log: (l) => console.error(l),
    });
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);

    const sub = subscribe({
      connectionString: connection.url,
      slot,
      publication,
      signal: stop.signal,
      ifSlotActive: 'wait',
    });
    const sql = await connectSql({ connectionString: connection.url });
    let lastCommitMs = 0;
    let updates = 0;
    let reported = { at: Date.now(), updates: 0 };
    const report = async () => {
      const { rows } = await sql.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      const now = Date.now();
      // The flushed position moves with keepalives too, so an idle reader shows itself caught up.
      const flushed = sub.position.flushed;
      const lagBytes = flushed === 0n ? 0 : Number(parseLsn(rows[0]?.lsn ?? '0/0') - flushed);
      const status: ReaderStatus = {
        slot,
        applied: formatLsn(flushed),
        lag_bytes: Math.max(0, lagBytes),
        lag_ms: sub.position.received > flushed && lastCommitMs > 0 ? Math.max(0, now - lastCommitMs) : 0,
        updates_per_s: Math.round(((updates - reported.updates) * 1000) / Math.max(1, now - reported.at)),
        reconnects: sub.reconnects,
        resets: sub.resets,
      };
      reported = { at: now, updates };
      console.log(values.json ? JSON.stringify(status) : formatStatus(status));
    };
    const timer = setInterval(() => void report().catch(() => {}), 1000);
    try {
      for await (const event of sub) {
        switch (event.tag) {
          case 'insert':
          case 'update':
          case 'delete':
          case 'truncate':
          case 'message':
            updates++;
            break;
          case 'commit':
            sub.ack(event);
            lastCommitMs = event.commitTime.getTime();
            break;
          case 'reset':
            console.error(
              `${slot}: reset (${event.reason}); the slot starts again at ${formatLsn(event.consistentPoint)}`,
            );
            break;
        }
      }
    } finally {
      clearInterval(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await sub.close();
      await sql.end();
      await connection.close();
    }
    return 0;
  },
};

export function formatStatus(s: ReaderStatus): string {
  return `${s.slot}  applied ${s.applied}  lag ${s.lag_bytes} B / ${s.lag_ms} ms  ${s.updates_per_s} updates/s${
    s.reconnects ? `  reconnects ${s.reconnects}` : ''
  }${s.resets ? `  resets ${s.resets}` : ''}`;
}
