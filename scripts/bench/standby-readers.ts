/**
 * The standby benchmark's readers (a child of scripts/bench/standby.ts, never run by hand): N StreamReaders
 * in this one process, each on a slot of its own on one server (the primary, or a hot standby given the
 * primary's URL for its snapshots), with the chat streams and caches as test/support/runtime.ts wires them.
 * They apply and acknowledge every transaction as a reader process would; nothing waits on them.
 *
 * Protocol (IPC, the types below): start → ready (every reader connected, its slot made) → go (the
 * benchmark measures from here) → drain (the writer is done: how far behind each reader is, then how long
 * until it has applied the last position) → result → stop (readers closed, slots let go of; the process
 * exits).
 */
import { defineChatCaches } from '../../app/caches.ts';
import { CHAT_STREAMS } from '../../app/streams.ts';
import { CacheRegistry } from '../../src/cache/registry.ts';
import { CacheRules } from '../../src/reader/cache-rules.ts';
import { StreamReader } from '../../src/reader/stream-reader.ts';
import { StreamSet } from '../../src/streams/stream-set.ts';
import { nowNs } from './wake-protocol.ts';

export interface ReadersStart {
  type: 'start';
  /** The server the readers decode on (a database URL). */
  url: string;
  /** The primary, when `url` is a standby: StreamReader's primaryConnectionString. */
  primaryUrl?: string;
  /** One reader per slot; created when missing. */
  slots: string[];
}

export interface ReadersReady {
  type: 'ready';
  /** Milliseconds from the start message until every reader was connected. */
  startMs: number;
}

export interface ReadersGo {
  type: 'go';
}

/** The writer is done: `lastPosition` is the highest position it wrote. */
export interface ReadersDrain {
  type: 'drain';
  lastPosition: number;
  timeoutMs: number;
}

export interface ReadersResult {
  type: 'result';
  /** Per reader: transactions still to apply when the drain request came (positions are gap-free). */
  behind: number[];
  /** Per reader: milliseconds from the drain request until it had applied lastPosition. */
  catchUpMs: number[];
  /** Per reader: whether it got there within the timeout. */
  drained: boolean[];
  /** Per reader: when it decoded the events row of lastPosition (CLOCK_MONOTONIC ns; NaN: never). */
  lastDecodedNs: number[];
  /** Per reader: transactions applied since it started. */
  transactions: number[];
  resets: number;
  reconnects: number;
  /** Standby snapshots the readers asked the primary for while connecting. */
  standbySnapshots: number;
  /** CPU seconds of this process and its event loop's busy share, from go to the end of the drain. */
  cpuSeconds: number;
  loopBusy: number;
  rssBytes: number;
}

export interface ReadersStop {
  type: 'stop';
}

function nextMessage<T extends { type: string }>(type: T['type']): Promise<T> {
  return new Promise((resolve) => {
    const listener = (message: { type?: string }) => {
      if (message.type !== type) return;
      process.off('message', listener);
      resolve(message as T);
    };
    process.on('message', listener);
  });
}

async function main(): Promise<void> {
  const start = await nextMessage<ReadersStart>('start');
  const t0 = performance.now();
  let resets = 0;
  /** Per reader: when each events row was handed to onUpdate, by position (one row per transaction). */
  const decoded = start.slots.map(() => new Map<number, number>());
  const readers = await Promise.all(
    start.slots.map((slot, i) => {
      const rules = new CacheRules(new CacheRegistry());
      defineChatCaches(rules);
      const decodedAt = decoded[i] as Map<number, number>;
      return StreamReader.start({
        connectionString: start.url,
        primaryConnectionString: start.primaryUrl,
        slot,
        streams: new StreamSet(CHAT_STREAMS),
        caches: rules,
        onUpdate: (update) => {
          if (update.stream === 'events' && update.op === 'insert')
            decodedAt.set(Number(update.position), nowNs());
        },
        onReset: (event) => {
          resets++;
          console.error(`standby-readers: ${slot}: reset (${event.reason})`);
        },
        onWarning: (error) => console.error(`standby-readers: ${slot}:`, error.message),
      });
    }),
  );
  for (const reader of readers)
    reader.done.catch((error: unknown) => {
      console.error(`standby-readers: ${reader.slot} stopped:`, error);
      process.exit(1);
    });
  const ready: ReadersReady = { type: 'ready', startMs: performance.now() - t0 };
  process.send?.(ready);

  await nextMessage<ReadersGo>('go');
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  const before = readers.map((r) => r.stats.transactions);

  const drain = await nextMessage<ReadersDrain>('drain');
  const asked = performance.now();
  const behind = readers.map((r) => Math.max(0, drain.lastPosition - Number(r.position)));
  const caughtUp = await Promise.all(
    readers.map(async (r) => {
      try {
        await r.waitForPosition(BigInt(drain.lastPosition), drain.timeoutMs);
        return { ok: true, ms: performance.now() - asked };
      } catch {
        return { ok: false, ms: performance.now() - asked };
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  const result: ReadersResult = {
    type: 'result',
    behind,
    catchUpMs: caughtUp.map((c) => c.ms),
    drained: caughtUp.map((c) => c.ok),
    lastDecodedNs: decoded.map((m) => m.get(drain.lastPosition) ?? Number.NaN),
    transactions: readers.map((r, i) => r.stats.transactions - (before[i] ?? 0)),
    resets,
    reconnects: readers.reduce((n, r) => n + r.stats.reconnects, 0),
    standbySnapshots: readers.reduce((n, r) => n + r.stats.standbySnapshots, 0),
    cpuSeconds: (used.user + used.system) / 1e6,
    loopBusy: performance.eventLoopUtilization(elu).utilization,
    rssBytes: process.memoryUsage.rss(),
  };
  process.send?.(result);

  await nextMessage<ReadersStop>('stop');
  await Promise.all(readers.map((r) => r.close()));
  process.exit(0);
}

// The benchmark went away (killed, or crashed): nothing more to do, and the slots' connections must close.
process.once('disconnect', () => process.exit(1));
main().catch((error: unknown) => {
  console.error('standby-readers:', error);
  process.exit(1);
});
