/**
 * What the wake benchmark's processes (scripts/bench/wake.ts and its two children, wake-writer.ts and
 * wake-waiters.ts) say to each other over IPC, and the clock they share.
 *
 * The clock: `process.hrtime` reads CLOCK_MONOTONIC, which on Linux is one clock for the whole machine, so
 * a nanosecond reading taken in the writer's process and one taken in the waiters' process subtract
 * exactly (no wall-clock steps, no per-process origin). Readings travel as plain numbers of nanoseconds
 * (exact in a double for about 104 days of uptime).
 */

/**
 * slotstream: StreamWriter transactions, woken through a StreamReader. notify: plain transactions that
 * notify, committed synchronously, so delivered once flushed, as slotstream's wakes are (equal durability).
 * notify-async: pg_notify inside the StreamWriter transactions, whose commit is asynchronous: delivered
 * before the flush.
 */
export const METHODS = ['slotstream', 'notify', 'notify-async'] as const;
export type Method = (typeof METHODS)[number];

export const LABELS: Record<Method, string> = {
  slotstream: 'slotstream (StreamReader)',
  notify: 'LISTEN/NOTIFY, sync commit',
  'notify-async': 'LISTEN/NOTIFY, async commit',
};

/** The LISTEN/NOTIFY channel the writer notifies on. */
export const CHANNEL = 'room_events';

/**
 * The notify method's own copy of the events table, and the sequence its events take their positions from
 * (both created by wake.ts): a LISTEN/NOTIFY application has no stream positions.
 */
export const NOTIFY_EVENTS = 'wake_notify_events';
export const NOTIFY_POSITIONS = 'wake_notify_position';

/**
 * A transaction's number among all the trial's writers, in schedule order (writer `writer` of `writers`
 * is due at t0 + (i + writer / writers) / rate).
 */
export const txNumber = (i: number, writer: number, writers: number): number => i * writers + writer;

/**
 * A notification's payload: the room id, which the listener dispatches on, and the number of the
 * transaction that sent it. Concurrent plain transactions commit in no set order, so a room's k-th
 * notification need not be its k-th transaction: the number says which one it is.
 */
export const notifyPayload = (room: number, tx: number): string => `${roomId(room)} ${tx}`;

/** The room id and transaction number of a notifyPayload. */
export function parseNotifyPayload(payload: string): { room: string; tx: number } {
  const space = payload.lastIndexOf(' ');
  return { room: payload.slice(0, space), tx: Number(payload.slice(space + 1)) };
}

/** CLOCK_MONOTONIC in nanoseconds: comparable across the processes of this machine. */
export const nowNs = (): number => Number(process.hrtime.bigint());

export const roomId = (i: number): string => `!r${i}:bench`;

/** The index of `!r<i>:bench`, or -1 for anything else. */
export function roomIndex(room: string): number {
  if (!room.startsWith('!r') || !room.endsWith(':bench')) return -1;
  const n = Number(room.slice(2, -':bench'.length));
  return Number.isSafeInteger(n) ? n : -1;
}

// ---------------------------------------------------------------------------------------------------------
// Writer child

export interface WriterStart {
  type: 'start';
  url: string;
  method: Method;
  /** Transactions per second, paced open-loop (each is due at t0 + i / rate). */
  rate: number;
  /** Total transactions, warm-up included. */
  total: number;
  /** Transactions before this index are warm-up: written and woken, left out of the figures. */
  warmup: number;
  rooms: number;
  /** Connections, hence transactions in flight at most. */
  connections: number;
  seed: number;
  /** This writer's number among the trial's writer processes (event ids and the schedule's phase). */
  writer: number;
  /** How many writer processes share the rate: this one is due at t0 + (i + writer / writers) / rate. */
  writers: number;
}

/** The writer has its connections open. */
export interface WriterReady {
  type: 'ready';
}

/** Every writer is ready: the schedule starts at `t0Ns` (CLOCK_MONOTONIC), the same for all of them. */
export interface WriterGo {
  type: 'go';
  t0Ns: number;
}

/** One record per transaction, as parallel arrays (index = transaction number). */
export interface WriterResult {
  type: 'result';
  /** Transactions before this index were warm-up. */
  warmup: number;
  /** Its event's stream_ordering: the writer's position, or (notify) a NOTIFY_POSITIONS value. */
  position: number[];
  room: number[];
  /** When it was due by the schedule, when it began (BEGIN requested). */
  dueNs: number[];
  startNs: number[];
  /** Just before knex handed COMMIT to the connection (knex's 'query' event, synchronous with the send). */
  commitIssuedNs: number[];
  /** When writer.transaction() returned: COMMIT acknowledged by the server. */
  commitReturnedNs: number[];
  /** CPU seconds of the writer process and its event loop's busy share, over the whole run. */
  cpuSeconds: number;
  loopBusy: number;
}

// ---------------------------------------------------------------------------------------------------------
// Waiters child

export interface WaitersStart {
  type: 'start';
  url: string;
  method: Method;
  rooms: number;
  /** The slot (slotstream); created on first start. */
  slot: string;
  /** Long-poll timeout of each wait, as a /sync client would pass (it re-polls after a timeout). */
  pollTimeoutMs: number;
}

export interface WaitersReady {
  type: 'ready';
  /** Milliseconds it took to register every waiter. */
  registerMs: number;
}

/** After the writer finished: wait until everything it wrote has been applied, then report. */
export interface WaitersDrain {
  type: 'drain';
  /** slotstream: the highest position written. */
  lastPosition: number;
  /** notify methods: how many notifications were sent. */
  notifications: number;
  timeoutMs: number;
}

export interface WaitersResult {
  type: 'result';
  /**
   * Every wake, as parallel arrays. slotstream: `a` is the waiter's token position (since) and `b` the
   * reader's position when its callback ran, so the wake covers transactions with a < position <= b.
   * notify methods: `a` is the number (txNumber) of the transaction whose notification woke it, `b` is 0.
   */
  wakeRoom: number[];
  wakeA: number[];
  wakeB: number[];
  wakeNs: number[];
  /** slotstream: when each events row was handed to onUpdate (decoded), by position. */
  decodedPosition: number[];
  decodedNs: number[];
  /** notify methods: notifications that found no waiter on their room (it was still re-registering). */
  unclaimed: number;
  /** Polls that timed out (and re-polled). */
  timeouts: number;
  /** Waiters registered when the drain finished (each room's loop is waiting again): should be `rooms`. */
  registered: number;
  cpuSeconds: number;
  loopBusy: number;
  /** Event-loop delay over the run (perf_hooks histogram), milliseconds. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  rssBytes: number;
  drained: boolean;
}
