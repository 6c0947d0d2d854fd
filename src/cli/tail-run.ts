/**
 * The loop behind `slotstream tail`: subscription events → JSON lines on stdout, a transaction acknowledged
 * only after its last line was written, resets reported on stderr, SIGINT/SIGTERM ending it cleanly.
 *
 * Delivery is at least once: a transaction interrupted half-printed (a signal, a crash, a closed pipe) is not
 * acknowledged, so the next `tail` on the slot prints it again, whole.
 */
import { formatLsn } from '../replication/lsn.ts';
import { type SubscriptionStatus, subscribe } from '../replication/subscribe.ts';
import { ChangeLines } from './change-line.ts';
import { LineWriter, OutputClosedError } from './line-writer.ts';

export interface TailOptions {
  connectionString: string;
  slot: string;
  publication: string;
  temporary: boolean;
  wait: boolean;
  out: NodeJS.WritableStream;
  /** One line of diagnostics (stderr). */
  err: (line: string) => void;
  /** Where SIGINT and SIGTERM come from; the process in the CLI. */
  signals: NodeJS.EventEmitter;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export async function runTail(options: TailOptions): Promise<number> {
  const sub = subscribe({
    connectionString: options.connectionString,
    slot: options.slot,
    publication: options.publication,
    temporary: options.temporary,
    ifSlotActive: options.wait ? 'wait' : 'error',
    onStatus: (status) => options.err(describeStatus(status)),
  });
  // close() reports the last acknowledgement and ends the iteration below. Handlers are `once`: a second
  // Ctrl-C gets the default behaviour and ends the process at once.
  const stop = () => void sub.close();
  for (const signal of STOP_SIGNALS) options.signals.once(signal, stop);
  const out = new LineWriter(options.out);
  const changes = new ChangeLines();
  try {
    for await (const event of sub) {
      if (event.tag === 'reset') {
        await out.flushed(); // the lines before it first, for a reader of both streams
        options.err(
          JSON.stringify({
            op: 'reset',
            reason: event.reason,
            slot: event.slot,
            consistent_point: formatLsn(event.consistentPoint),
          }),
        );
        continue;
      }
      if (event.tag === 'incomplete') {
        // Its lines so far go out first; the whole transaction follows again (at-least-once).
        await out.flushed();
        options.err(
          JSON.stringify({ op: 'incomplete', xid: event.xid, commit_lsn: formatLsn(event.finalLsn) }),
        );
        continue;
      }
      const full = out.write(changes.text(event, sub.eventLsn));
      if (full) await full;
      // Not awaited: the next transactions are printed while this one's last chunk is being written.
      if (event.tag === 'commit') out.whenWritten(() => sub.ack(event));
    }
    await out.flushed();
  } catch (err) {
    if (!(err instanceof OutputClosedError)) throw err;
    options.err(`tail: ${err.message}; stopping (the unwritten transaction stays in the slot)`);
  } finally {
    for (const signal of STOP_SIGNALS) options.signals.off(signal, stop);
    await sub.close();
    out.release();
  }
  return 0;
}

function describeStatus(status: SubscriptionStatus): string {
  switch (status.event) {
    case 'connected':
      // 0/0 asks the server to continue from the slot's confirmed_flush_lsn.
      return `tail: streaming slot ${status.slot} from ${status.startLsn === 0n ? 'its confirmed position' : formatLsn(status.startLsn)} (pgoutput protocol ${status.protoVersion})`;
    case 'slot-created':
      return `tail: created ${status.failover ? 'failover ' : ''}slot ${status.slot} at ${formatLsn(status.consistentPoint)}`;
    case 'slot-failover-changed':
      return `tail: made slot ${status.slot} ${status.failover ? 'a failover slot' : 'an ordinary slot (not failover)'}`;
    case 'timeline-changed':
      return `tail: the server is on timeline ${status.to}, not ${status.from} (a promoted standby): resuming slot ${status.slot} from ${status.forkLsn === 0n ? 'its confirmed position' : `the fork at ${formatLsn(status.forkLsn)}`}`;
    case 'waiting-for-slot':
      return `tail: slot ${status.slot} is in use by PID ${status.pid ?? '(unknown)'}; waiting for it (--wait)`;
    case 'reconnecting':
      return `tail: reconnecting in ${status.delayMs} ms: ${status.error.message}`;
  }
}
