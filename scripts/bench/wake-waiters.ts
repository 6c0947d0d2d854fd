/**
 * The wake benchmark's waiters (a child of scripts/bench/wake.ts, never run by hand): one long-poll loop
 * per room, like a /sync client each: wait, and once woken (or timed out) wait again from where it is.
 *
 *   slotstream  a StreamReader on its slot, with the chat streams and caches (as test/support/runtime.ts
 *               wires it); each loop calls reader.wait({keys: [room], since: token}) and takes
 *               reader.token as its next token once woken, as a client takes next_batch.
 *   notify, notify-async  one connection LISTENing on CHANNEL; each notification (payload: the room id and
 *               the transaction's number) wakes the room's waiters through a Map, each with its long-poll
 *               timer, as a LISTEN/NOTIFY server would.
 *
 * A wake is timed (CLOCK_MONOTONIC, wake-protocol.ts) where the client's code resumes after its await.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { defineChatCaches } from '../../app/caches.ts';
import { CHAT_STREAMS } from '../../app/streams.ts';
import { CacheRegistry } from '../../src/cache/registry.ts';
import { NotifierClosedError } from '../../src/notifier/errors.ts';
import { CacheRules } from '../../src/reader/cache-rules.ts';
import { StreamReader } from '../../src/reader/stream-reader.ts';
import { StreamSet } from '../../src/streams/stream-set.ts';
import {
  CHANNEL,
  nowNs,
  parseNotifyPayload,
  roomId,
  roomIndex,
  type WaitersDrain,
  type WaitersResult,
  type WaitersStart,
} from './wake-protocol.ts';

interface Recorder {
  result: WaitersResult;
  wake(room: number, a: number, b: number, at: number): void;
}

function recorder(): Recorder {
  const result: WaitersResult = {
    type: 'result',
    wakeRoom: [],
    wakeA: [],
    wakeB: [],
    wakeNs: [],
    decodedPosition: [],
    decodedNs: [],
    unclaimed: 0,
    timeouts: 0,
    registered: 0,
    cpuSeconds: 0,
    loopBusy: 0,
    loopDelayP99Ms: 0,
    loopDelayMaxMs: 0,
    rssBytes: 0,
    drained: false,
  };
  return {
    result,
    wake(room, a, b, at) {
      result.wakeRoom.push(room);
      result.wakeA.push(a);
      result.wakeB.push(b);
      result.wakeNs.push(at);
    },
  };
}

/**
 * The first poll's timeout, uniform in (0, timeout]: clients' long-polls are out of phase with each other,
 * as they are in steady state. All 10,000 starting together would time out together, a burst of
 * re-registration that stalls the event loop and says nothing about wakes.
 */
function firstTimeout(timeoutMs: number): number {
  return Math.max(1, Math.ceil(Math.random() * timeoutMs));
}

/** What each method provides: start the loops; wait until everything written has been applied; stop. */
interface Waiters {
  drain(request: WaitersDrain): Promise<boolean>;
  registered(): number;
  close(): Promise<void>;
}

async function slotstreamWaiters(options: WaitersStart, rec: Recorder): Promise<Waiters> {
  const rules = new CacheRules(new CacheRegistry());
  defineChatCaches(rules);
  const reader = await StreamReader.start({
    connectionString: options.url,
    slot: options.slot,
    streams: new StreamSet(CHAT_STREAMS),
    caches: rules,
    onUpdate: (update) => {
      if (update.stream === 'events' && update.op === 'insert') {
        rec.result.decodedPosition.push(Number(update.position));
        rec.result.decodedNs.push(nowNs());
      }
    },
    onWarning: (error) => {
      throw error;
    },
  });
  let stopping = false;
  const loop = async (i: number) => {
    const keys = [roomId(i)];
    let timeoutMs = firstTimeout(options.pollTimeoutMs);
    while (!stopping) {
      const since = reader.token;
      const outcome = await reader.wait({ keys, since, timeoutMs });
      timeoutMs = options.pollTimeoutMs;
      const at = nowNs();
      if (outcome === 'updated') rec.wake(i, Number(since.position), Number(reader.position), at);
      else if (outcome === 'timeout') rec.result.timeouts++;
      else throw new Error(`unexpected ${outcome}`);
    }
  };
  for (let i = 0; i < options.rooms; i++)
    loop(i).catch((error: unknown) => {
      // close() ends the waits still pending: that is the end of the loop, not a failure.
      if (stopping && error instanceof NotifierClosedError) return;
      console.error('wake-waiters:', error);
      process.exit(1);
    });
  reader.done.catch((error: unknown) => {
    console.error('wake-waiters: the reader stopped:', error);
    process.exit(1);
  });
  return {
    async drain(request) {
      try {
        await reader.waitForPosition(BigInt(request.lastPosition), request.timeoutMs);
        return true;
      } catch {
        return false;
      }
    },
    registered: () => reader.notifier.stats.waiters,
    async close() {
      stopping = true;
      await reader.close();
    },
  };
}

async function notifyWaiters(options: WaitersStart, rec: Recorder): Promise<Waiters> {
  const client = new pg.Client({ connectionString: options.url });
  await client.connect();
  /** Per room, the resolvers of its registered waiters, called with the transaction that woke them. */
  const waiting = new Map<string, Set<(tx: number) => void>>();
  let received = 0;
  let onReceived: (() => void) | undefined;
  client.on('notification', (message) => {
    received++;
    const { room, tx } = parseNotifyPayload(message.payload ?? '');
    const set = waiting.get(room);
    if (set === undefined) rec.result.unclaimed++;
    else {
      waiting.delete(room);
      for (const resolve of set) resolve(tx);
    }
    onReceived?.();
  });
  await client.query(`LISTEN ${CHANNEL}`);

  /** One long-poll: the number of the transaction whose notification woke it, or undefined on timeout. */
  const wait = (room: string, timeoutMs: number) =>
    new Promise<number | undefined>((resolve) => {
      let set = waiting.get(room);
      if (set === undefined) {
        set = new Set();
        waiting.set(room, set);
      }
      const waiter = (tx: number) => {
        clearTimeout(timer);
        resolve(tx);
      };
      const timer = setTimeout(() => {
        const mine = waiting.get(room);
        mine?.delete(waiter);
        if (mine?.size === 0) waiting.delete(room);
        resolve(undefined);
      }, timeoutMs);
      set.add(waiter);
    });

  let stopping = false;
  const loop = async (i: number) => {
    const room = roomId(i);
    let timeoutMs = firstTimeout(options.pollTimeoutMs);
    while (!stopping) {
      const tx = await wait(room, timeoutMs);
      timeoutMs = options.pollTimeoutMs;
      const at = nowNs();
      if (tx !== undefined) rec.wake(roomIndex(room), tx, 0, at);
      else rec.result.timeouts++;
    }
  };
  for (let i = 0; i < options.rooms; i++) void loop(i);
  return {
    async drain(request) {
      const deadline = Date.now() + request.timeoutMs;
      while (received < request.notifications && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          onReceived = resolve;
          setTimeout(resolve, 100);
        });
      }
      onReceived = undefined;
      return received >= request.notifications;
    },
    registered: () => {
      let n = 0;
      for (const set of waiting.values()) n += set.size;
      return n;
    },
    async close() {
      stopping = true;
      await client.end();
    },
  };
}

async function main(): Promise<void> {
  const start = await nextMessage<WaitersStart>('start');
  const rec = recorder();
  const t0 = performance.now();
  const waiters =
    start.method === 'slotstream' ? await slotstreamWaiters(start, rec) : await notifyWaiters(start, rec);
  const registerMs = performance.now() - t0;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  process.send?.({ type: 'ready', registerMs });

  const drain = await nextMessage<WaitersDrain>('drain');
  const drained = await waiters.drain(drain);
  // Lets the wakes of the last transactions reach their loops, which then register again.
  await new Promise((resolve) => setTimeout(resolve, 50));
  delay.disable();
  const used = process.cpuUsage(cpu);
  const result = rec.result;
  result.drained = drained;
  result.cpuSeconds = (used.user + used.system) / 1e6;
  result.loopBusy = performance.eventLoopUtilization(elu).utilization;
  result.loopDelayP99Ms = delay.percentile(99) / 1e6;
  result.loopDelayMaxMs = delay.max / 1e6;
  result.rssBytes = process.memoryUsage.rss();
  result.registered = waiters.registered();
  await waiters.close();
  process.send?.(result, () => process.exit(0)); // the loops still wait: exit rather than end them one by one
}

function nextMessage<T extends { type: string }>(type: T['type']): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (message: { type?: string }) => {
      if (message.type !== type) return;
      process.off('message', listener);
      resolve(message as T);
    };
    process.on('message', listener);
    process.once('disconnect', () => reject(new Error('the benchmark went away')));
  });
}

main().catch((error: unknown) => {
  console.error('wake-waiters:', error);
  process.exit(1);
});
