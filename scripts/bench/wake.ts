/**
 * Commit-to-wake latency benchmark (not a test): N long-poll waiters, each on a room of its own,
 * woken by single-row transactions at a steady rate, through slotstream's StreamReader and through
 * LISTEN/NOTIFY (at equal durability, and as it was first measured here, before the flush), in turn.
 *
 *   node --import tsx scripts/bench/wake.ts [--pg 15|18] [--rate 1000] [--seconds 10] [--waiters 10000]
 *        [--warmup 2] [--rounds 3] [--writers 1] [--connections 4] [--only slotstream,notify,notify-async]
 *        [--poll-timeout 30000] [--target-p99 5] [--set name=value ...]
 *
 * Server: DATABASE_URL if set (the bench creates and drops a database of its own there), otherwise a
 * throwaway cluster from the embedded PostgreSQL 18 (`--pg 15`: /usr/lib/postgresql/15/bin) in a temporary
 * directory, with the local clusters' settings plus any `--set` (e.g. `--set wal_writer_delay=10ms`).
 *
 * Method. Each trial runs fresh child processes beside this one, which only orchestrates:
 *   waiters (wake-waiters.ts)  N loops, one per room, each waiting and re-waiting like a /sync client:
 *                slotstream: reader.wait({keys: [room], since: token}) on a StreamReader (chat streams and
 *                caches as test/support/runtime.ts wires them, a slot of its own), next token = reader.token
 *                once woken; notify methods: a LISTEN connection dispatching each notification (payload: the
 *                room id and the transaction's number) to the room's waiters through a Map. Both with a
 *                --poll-timeout timer per poll (the first poll's timeout drawn uniformly in (0, timeout], so
 *                that polls are out of phase as in steady state rather than 10,000 of them timing out
 *                together).
 *   writers (wake-writer.ts)   one event row each in a uniformly random room, paced open-loop at --rate
 *                (split over --writers processes, interleaved, each with --connections connections, so the
 *                next transaction's BEGIN overlaps the current commit). The methods write the same rows
 *                (same rooms) in transactions of their own kind:
 *                  slotstream    StreamWriter transactions.
 *                  notify        plain transactions, BEGIN; INSERT the event (position from a sequence);
 *                                SELECT pg_notify(...); COMMIT, with synchronous_commit on: the notification
 *                                goes out once the commit is flushed. The fair comparison.
 *                  notify-async  StreamWriter transactions that also call pg_notify: delivered at their
 *                                asynchronous commit, before the flush.
 *                Nothing about timing goes into the rows.
 * The writers run in processes of their own so that their event loops (knex, the pacing timers) do not
 * delay the waiters'; on a small machine a single Node writer runs out of CPU before 1,000 tx/s, hence
 * --writers.
 *
 * Latency = wake − commit, on CLOCK_MONOTONIC, which every child reads (process.hrtime: one clock for the
 * whole machine on Linux, so readings from two processes subtract exactly). "Commit" is the moment just
 * BEFORE the writer hands COMMIT to its connection (knex's 'query' event, emitted synchronously before the
 * send), not when the transaction returns: a waiter can be woken before the writer's process has read the
 * reply, so the return is no lower bound. "Wake" is when the waiter's code resumes after its await. The
 * figure includes everything after the transaction's last statement: the commit and its flush (for
 * StreamWriter, the flush it waits for after an asynchronous commit), then for slotstream decoding and the
 * reader's apply. Also shown: latency from the transaction's return (durable; negative when the wake came
 * first) and COMMIT sent → return. slotstream trials also split the latency at the moment the reader hands
 * the row to onUpdate ("decoded").
 *
 * Equal durability. StreamWriter commits asynchronously under stream_head's lock and then waits for a
 * flush (docs/positions.md); a walsender sends only flushed WAL, so slotstream's wake always comes after
 * the flush. A notification is delivered when its transaction's commit is visible: with synchronous_commit
 * on, after the commit record is flushed (notify), but in StreamWriter's asynchronous commit before it
 * (notify-async: a client can be woken for a write that a crash would lose). notify is the comparison at
 * equal durability; notify-async is kept to show what the flush costs. Note that NOTIFY serialises the
 * commits of notifying transactions (a cluster-wide lock from its pre-commit step until the transaction
 * ends, so that the queue is in commit order): synchronous, their fsyncs queue one behind the other.
 *
 * Attribution. slotstream: a wake covers the transactions of its room with since < position ≤ the reader's
 * position when it ran; the first of them is the one that woke it. notify methods: the payload names the
 * transaction (its number in the schedule across writer processes): plain transactions commit concurrently
 * from several connections, in no set order, so a room's k-th notification need not be its k-th
 * transaction. A transaction that shared its wake with an earlier one in the same room (its waiter had not
 * registered again yet) counts as coalesced, not as a sample; one never woken for is "missed" and a wake
 * with no transaction of its room is "spurious": both must be 0.
 *
 * The first --warmup seconds of each trial are written and woken but left out of the figures. Methods
 * alternate, their order rotating with the round; the summary gives the median over rounds of each
 * figure, and the ratios of slotstream's to each LISTEN/NOTIFY method's. Server CPU is read from /proc per
 * server process (local clusters only), and the machine's load average is printed before and after: other
 * work on the machine shows up in the figures.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { migrateChat } from '../../app/schema.ts';
import { embeddedBinaries, SYSTEM_PG15_BIN, systemBinaries } from '../../src/devdb/binaries.ts';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';
import {
  codeVersion,
  dropSlot,
  exited,
  loadAverage,
  median,
  positive,
  procStat,
  reply,
  table,
  withClient,
} from './common.ts';
import {
  LABELS,
  METHODS,
  type Method,
  NOTIFY_EVENTS,
  NOTIFY_POSITIONS,
  nowNs,
  txNumber,
  type WaitersReady,
  type WaitersResult,
  type WaitersStart,
  type WriterGo,
  type WriterReady,
  type WriterResult,
  type WriterStart,
} from './wake-protocol.ts';

const { values: args } = parseArgs({
  options: {
    pg: { type: 'string', default: '18' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    waiters: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '4' },
    writers: { type: 'string', default: '1' },
    'poll-timeout': { type: 'string', default: '30000' },
    only: { type: 'string' },
    set: { type: 'string', multiple: true, default: [] },
    'target-p99': { type: 'string', default: '5' },
  },
});

const HERE = import.meta.dirname;

// ---------------------------------------------------------------------------------------------------------
// Statistics

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

interface Dist {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

function dist(samples: number[]): Dist {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Attribution: which wake answered which transaction

/** Every writer process's transactions, concatenated, with the warm-up ones flagged. */
interface Written {
  /** Its number across writer processes (txNumber), as notification payloads carry it. */
  tx: number[];
  position: number[];
  room: number[];
  dueNs: number[];
  startNs: number[];
  commitIssuedNs: number[];
  commitReturnedNs: number[];
  measured: boolean[];
  /** Per writer process. */
  cpuSeconds: number[];
  loopBusy: number[];
}

function merge(results: WriterResult[]): Written {
  const out: Written = {
    tx: [],
    position: [],
    room: [],
    dueNs: [],
    startNs: [],
    commitIssuedNs: [],
    commitReturnedNs: [],
    measured: [],
    cpuSeconds: [],
    loopBusy: [],
  };
  results.forEach((r, writer) => {
    out.tx.push(...r.position.map((_, i) => txNumber(i, writer, results.length)));
    out.position.push(...r.position);
    out.room.push(...r.room);
    out.dueNs.push(...r.dueNs);
    out.startNs.push(...r.startNs);
    out.commitIssuedNs.push(...r.commitIssuedNs);
    out.commitReturnedNs.push(...r.commitReturnedNs);
    out.measured.push(...r.position.map((_, i) => i >= r.warmup));
    out.cpuSeconds.push(r.cpuSeconds);
    out.loopBusy.push(r.loopBusy);
  });
  return out;
}

interface Trial {
  method: Method;
  round: number;
  /** Measured transactions per second (warm-up excluded). */
  rate: number;
  /** Wake − COMMIT issued, ms. */
  latency: Dist;
  /** Wake − COMMIT returned, ms. */
  fromReturn: Dist;
  /** COMMIT issued → writer.transaction() returned (COMMIT, and the writer's wait for the flush), ms. */
  commit: Dist;
  /** slotstream: COMMIT issued → row handed to onUpdate, and that → wake, ms. */
  decode?: Dist;
  apply?: Dist;
  /** slotstream: writer.transaction() returned (flushed) → row handed to onUpdate, ms (negative: earlier). */
  returnToDecode?: Dist;
  /** How late transactions started against the schedule (a saturated writer falls behind), ms. */
  startLag: Dist;
  wakes: number;
  coalesced: number;
  missed: number;
  spurious: number;
  waiters: WaitersResult;
  writer: Written;
  serverCpu: Record<string, number>;
  seconds: number;
}

function analyse(
  method: Method,
  round: number,
  w: Written,
  r: WaitersResult,
  serverCpu: Record<string, number>,
): Trial {
  const total = w.position.length;
  /** Per room, its transactions in position order (slotstream: commit order, which wakes follow). */
  const byRoom = new Map<number, number[]>();
  for (let i = 0; i < total; i++) {
    const list = byRoom.get(w.room[i] as number);
    if (list) list.push(i);
    else byRoom.set(w.room[i] as number, [i]);
  }
  for (const list of byRoom.values())
    list.sort((a, b) => (w.position[a] as number) - (w.position[b] as number));
  /** notify methods: a transaction's index here by the number its notification's payload carries. */
  const byTx = new Map(w.tx.map((tx, i) => [tx, i]));

  const wokeAt = new Array<number>(total).fill(Number.NaN);
  let coalesced = 0;
  let spurious = 0;
  for (let k = 0; k < r.wakeRoom.length; k++) {
    const at = r.wakeNs[k] as number;
    if (method === 'slotstream') {
      const txs = byRoom.get(r.wakeRoom[k] as number) ?? [];
      const since = r.wakeA[k] as number;
      const upto = r.wakeB[k] as number;
      const covered = txs.filter(
        (i) => (w.position[i] as number) > since && (w.position[i] as number) <= upto,
      );
      if (covered.length === 0) spurious++;
      covered.forEach((i, n) => {
        if (n === 0) wokeAt[i] = at;
        else coalesced++;
      });
    } else {
      const i = byTx.get(r.wakeA[k] as number);
      if (i === undefined || w.room[i] !== r.wakeRoom[k]) spurious++;
      else wokeAt[i] = at;
    }
  }
  if (method !== 'slotstream') coalesced = r.unclaimed;
  let missed = -coalesced;
  for (let i = 0; i < total; i++) if (Number.isNaN(wokeAt[i])) missed++;

  const latency: number[] = [];
  const fromReturn: number[] = [];
  const commit: number[] = [];
  const startLag: number[] = [];
  const measured: number[] = [];
  for (let i = 0; i < total; i++) {
    if (!w.measured[i]) continue;
    measured.push(i);
    commit.push(((w.commitReturnedNs[i] as number) - (w.commitIssuedNs[i] as number)) / 1e6);
    startLag.push(((w.startNs[i] as number) - (w.dueNs[i] as number)) / 1e6);
    const at = wokeAt[i] as number;
    if (Number.isNaN(at)) continue;
    latency.push((at - (w.commitIssuedNs[i] as number)) / 1e6);
    fromReturn.push((at - (w.commitReturnedNs[i] as number)) / 1e6);
  }
  const first = measured.reduce((m, i) => Math.min(m, w.dueNs[i] as number), Number.POSITIVE_INFINITY);
  const last = measured.reduce((m, i) => Math.max(m, w.commitReturnedNs[i] as number), 0);
  const seconds = (last - first) / 1e9;

  const trial: Trial = {
    method,
    round,
    rate: measured.length / seconds,
    latency: dist(latency),
    fromReturn: dist(fromReturn),
    commit: dist(commit),
    startLag: dist(startLag),
    wakes: r.wakeRoom.length,
    coalesced,
    missed,
    spurious,
    waiters: r,
    writer: w,
    serverCpu,
    seconds,
  };
  if (method === 'slotstream') {
    const decodedAt = new Map<number, number>();
    r.decodedPosition.forEach((p, k) => {
      decodedAt.set(p, r.decodedNs[k] as number);
    });
    const decode: number[] = [];
    const apply: number[] = [];
    const returnToDecode: number[] = [];
    for (let i = 0; i < total; i++) {
      if (!w.measured[i]) continue;
      const d = decodedAt.get(w.position[i] as number);
      if (d === undefined) continue;
      decode.push((d - (w.commitIssuedNs[i] as number)) / 1e6);
      returnToDecode.push((d - (w.commitReturnedNs[i] as number)) / 1e6);
      const at = wokeAt[i] as number;
      if (!Number.isNaN(at)) apply.push((at - d) / 1e6);
    }
    trial.decode = dist(decode);
    trial.apply = dist(apply);
    trial.returnToDecode = dist(returnToDecode);
  }
  return trial;
}

// ---------------------------------------------------------------------------------------------------------
// Server CPU from /proc (a local cluster only): every child of the postmaster, grouped by kind

/** "walsender", "walwriter", "checkpointer", … or "backend" for a client connection. */
function processKind(pid: number, user: string): string {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    const words = cmd.replace(/^postgres:\s*/, '').split(/\s+/);
    if (words[0] === user) return 'backend';
    return words[0] === 'logical' ? 'launcher' : (words[0] ?? '?');
  } catch {
    return '?';
  }
}

/**
 * Samples the CPU time of the postmaster's children until stopped; returns CPU seconds used meanwhile per
 * kind of process (a process that exits counts up to its last sample, at most one interval short).
 */
function watchServer(dataDir: string | undefined): () => Record<string, number> {
  if (dataDir === undefined) return () => ({});
  let postmaster: number;
  try {
    postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return () => ({});
  }
  const first = new Map<number, number>();
  const last = new Map<number, { cpu: number; kind: string }>();
  const sample = () => {
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      const stat = procStat(pid);
      if (stat === undefined || stat.ppid !== postmaster) continue;
      const known = last.get(pid)?.kind;
      if (!first.has(pid)) first.set(pid, stat.cpu);
      // A process just forked still shows the postmaster's command line: look again until it has its title.
      const kind = known === undefined || known.startsWith('/') ? processKind(pid, 'postgres') : known;
      last.set(pid, { cpu: stat.cpu, kind });
    }
  };
  sample();
  // New processes (walsender, the writer's backends) start at 0 CPU: their first sample may be late.
  const startedEmpty = new Set<number>();
  const timer = setInterval(() => {
    const before = new Set(first.keys());
    sample();
    for (const pid of first.keys()) if (!before.has(pid)) startedEmpty.add(pid);
  }, 200);
  return () => {
    clearInterval(timer);
    sample();
    const out: Record<string, number> = {};
    for (const [pid, { cpu, kind }] of last) {
      const base = startedEmpty.has(pid) ? 0 : (first.get(pid) ?? 0);
      out[kind] = (out[kind] ?? 0) + cpu - base;
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Children

function child(script: string): ChildProcess {
  return fork(path.join(HERE, script), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
}

interface Plan {
  url: string;
  dataDir: string | undefined;
  rate: number;
  total: number;
  warmup: number;
  waiters: number;
  connections: number;
  writers: number;
  pollTimeoutMs: number;
}

async function runTrial(plan: Plan, method: Method, round: number): Promise<Trial> {
  // Every trial starts from the same state: no dead tuples from the last one, no checkpoint due mid-run.
  await withClient(plan.url, async (c) => {
    await c.query(`VACUUM events, stream_head, ${NOTIFY_EVENTS}`);
    await c.query('CHECKPOINT');
  });
  const slot = `wake_${method}_${round}`;
  const waiters = child('wake-waiters.ts');
  const writers: ChildProcess[] = [];
  try {
    const start: WaitersStart = {
      type: 'start',
      url: plan.url,
      method,
      rooms: plan.waiters,
      slot,
      pollTimeoutMs: plan.pollTimeoutMs,
    };
    waiters.send(start);
    await reply<WaitersReady>(waiters, 'ready');

    const stopWatching = watchServer(plan.dataDir);
    // The rate is split over the writer processes, their schedules interleaved (see WriterStart).
    for (let k = 0; k < plan.writers; k++) {
      const proc = child('wake-writer.ts');
      writers.push(proc);
      const share = (n: number) => Math.floor(n / plan.writers) + (k < n % plan.writers ? 1 : 0);
      const start: WriterStart = {
        type: 'start',
        url: plan.url,
        method,
        rate: plan.rate / plan.writers,
        total: share(plan.total),
        warmup: share(plan.warmup),
        rooms: plan.waiters,
        connections: plan.connections,
        seed: 1000 * round + 17 + k, // the same rooms for both methods of a round
        writer: k,
        writers: plan.writers,
      };
      proc.send(start);
    }
    await Promise.all(writers.map((proc) => reply<WriterReady>(proc, 'ready')));
    const results = writers.map((proc) => reply<WriterResult>(proc, 'result'));
    const go: WriterGo = { type: 'go', t0Ns: nowNs() + 20e6 };
    for (const proc of writers) proc.send(go);
    const written = merge(await Promise.all(results));
    await Promise.all(writers.map(exited));

    waiters.send({
      type: 'drain',
      lastPosition: Math.max(...written.position),
      notifications: method === 'slotstream' ? 0 : written.position.length,
      timeoutMs: 30_000,
    });
    const woken = await reply<WaitersResult>(waiters, 'result');
    await exited(waiters);
    const serverCpu = stopWatching();
    if (!woken.drained) console.error(`  ${method}: the waiters did not see every transaction within 30 s`);
    return analyse(method, round, written, woken, serverCpu);
  } finally {
    for (const proc of [waiters, ...writers]) if (proc.exitCode === null) proc.kill('SIGKILL');
    if (method === 'slotstream') await dropSlot(plan.url, slot).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reporting

const LABEL_WIDTH = Math.max(...Object.values(LABELS).map((l) => l.length));
const ms = (v: number) => (Number.isNaN(v) ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(1));
const cpu = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));
const pct = (v: number) => `${(100 * v).toFixed(0)}%`;

function serverCpuText(t: Trial): string {
  const s = t.serverCpu;
  const parts = Object.entries(s)
    .filter(([, v]) => v >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(1)}`);
  return parts.length ? parts.join(', ') : '-';
}

function trialLine(t: Trial): string {
  const r = t.waiters;
  return (
    `  round ${t.round + 1}  ${LABELS[t.method].padEnd(LABEL_WIDTH)} ${Math.round(t.rate).toString().padStart(5)} tx/s  ` +
    `wake−commit p50 ${ms(t.latency.p50)}  p99 ${ms(t.latency.p99)}  max ${ms(t.latency.max)} ms ` +
    `(n=${t.latency.n}; after transaction() returned p50 ${ms(t.fromReturn.p50)} p99 ${ms(t.fromReturn.p99)}; ` +
    `COMMIT sent → transaction() returned p50 ${ms(t.commit.p50)} p99 ${ms(t.commit.p99)})` +
    (t.decode && t.apply && t.returnToDecode
      ? `\n           COMMIT sent→decoded p50 ${ms(t.decode.p50)} p99 ${ms(t.decode.p99)}; transaction() returned→decoded ` +
        `p50 ${ms(t.returnToDecode.p50)} p99 ${ms(t.returnToDecode.p99)}; decoded→woken p50 ${ms(t.apply.p50)} ` +
        `p99 ${ms(t.apply.p99)} ms`
      : '') +
    `\n           wakes ${t.wakes}, coalesced ${t.coalesced}, missed ${t.missed}, spurious ${t.spurious}, ` +
    `registered after ${r.registered}, timeouts ${r.timeouts}; start lag p99 ${ms(t.startLag.p99)} ms; ` +
    `waiters: CPU ${cpu(r.cpuSeconds)} s, loop busy ${pct(r.loopBusy)}, loop delay p99 ${ms(r.loopDelayP99Ms)} ` +
    `max ${ms(r.loopDelayMaxMs)} ms, RSS ${(r.rssBytes / 2 ** 20).toFixed(0)} MB; writer: CPU ` +
    `${t.writer.cpuSeconds.map(cpu).join('+')} s, loop busy ${t.writer.loopBusy.map(pct).join(', ')}; server CPU s: ${serverCpuText(t)}`
  );
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const rate = positive('rate', args.rate);
  const seconds = positive('seconds', args.seconds);
  const warmupSeconds = Number(args.warmup);
  if (!(warmupSeconds >= 0)) throw new Error('--warmup must be 0 or more seconds');
  const waiters = Math.round(positive('waiters', args.waiters));
  const rounds = Math.round(positive('rounds', args.rounds));
  const connections = Math.round(positive('connections', args.connections));
  const writerProcesses = Math.round(positive('writers', args.writers));
  const pollTimeoutMs = positive('poll-timeout', args['poll-timeout']);
  const targetP99 = positive('target-p99', args['target-p99']);
  const methods: Method[] = args.only
    ? args.only.split(',').map((m) => {
        if (!(METHODS as readonly string[]).includes(m)) throw new Error(`--only: unknown method ${m}`);
        return m as Method;
      })
    : [...METHODS];
  const settings: Record<string, string> = {};
  for (const item of args.set) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects name=value, got ${item}`);
    settings[item.slice(0, eq)] = item.slice(eq + 1);
  }

  let cluster: LocalCluster | undefined;
  let tempDir: string | undefined;
  let adminUrl = process.env.DATABASE_URL;
  let serverLabel = 'DATABASE_URL';
  let dataDir: string | undefined;
  const cleanup: (() => Promise<void>)[] = [];
  try {
    if (!adminUrl) {
      if (args.pg !== '15' && args.pg !== '18') throw new Error('--pg must be 15 or 18');
      const binaries = args.pg === '15' ? systemBinaries(SYSTEM_PG15_BIN) : embeddedBinaries();
      if (!binaries) throw new Error(`no PostgreSQL 15 at ${SYSTEM_PG15_BIN}`);
      tempDir = await mkdtemp(path.join(tmpdir(), 'slotstream-bench-'));
      dataDir = path.join(tempDir, 'data');
      cluster = await LocalCluster.start({ binaries, dataDir, settings });
      adminUrl = cluster.url();
      serverLabel = `throwaway cluster (${binaries.label})`;
    } else if (Object.keys(settings).length > 0) {
      throw new Error('--set applies to the throwaway cluster only, not to DATABASE_URL');
    }
    const admin = adminUrl;
    const database = `slotstream_wake_${process.pid}`;
    await withClient(admin, (c) => c.query(`CREATE DATABASE ${database}`));
    cleanup.push(() =>
      withClient(admin, async (c) => {
        await c.query(
          'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active',
          [database],
        );
        await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      }),
    );
    const u = new URL(admin);
    u.pathname = `/${database}`;
    const url = u.toString();
    await migrateChat(url);
    const shown = await withClient(url, async (c) => {
      // Autovacuum would start on these tables mid-run; each trial vacuums them beforehand instead.
      await c.query('ALTER TABLE events SET (autovacuum_enabled = false)');
      await c.query('ALTER TABLE stream_head SET (autovacuum_enabled = false)');
      await c.query(`CREATE TABLE ${NOTIFY_EVENTS} (LIKE events INCLUDING ALL)`); // no triggers: see its definition
      await c.query(`ALTER TABLE ${NOTIFY_EVENTS} SET (autovacuum_enabled = false)`);
      await c.query(`CREATE SEQUENCE ${NOTIFY_POSITIONS}`);
      const names = [
        'server_version',
        'synchronous_commit',
        'fsync',
        'wal_sync_method',
        'wal_writer_delay',
        'commit_delay',
      ];
      const { rows } = await c.query<{ name: string; setting: string; unit: string | null }>(
        'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)',
        [names],
      );
      // The notify method is the comparison at equal durability only if its COMMIT waits for the flush.
      const syncCommit = rows.find((r) => r.name === 'synchronous_commit')?.setting;
      if (methods.includes('notify') && syncCommit === 'off')
        throw new Error('the notify method needs synchronous_commit on (its commits must be durable)');
      return names.map((n) => {
        const row = rows.find((r) => r.name === n);
        return `${n}=${row ? `${row.setting}${row.unit && row.unit !== '' ? row.unit : ''}` : '?'}`;
      });
    });
    const warmup = Math.round(warmupSeconds * rate);
    const total = warmup + Math.round(seconds * rate);
    console.log(
      `${codeVersion()}\nserver: ${serverLabel}; ${shown.join(', ')}\n` +
        `${waiters.toLocaleString('en-US')} waiters on distinct rooms; writer: ${rate} single-row tx/s from ` +
        `${writerProcesses} process(es) × ${connections} connections, ${warmupSeconds} s warm-up + ${seconds} s measured; ${rounds} round(s); ` +
        `methods: ${methods.join(', ')}; ${loadAverage()}`,
    );

    const plan: Plan = {
      url,
      dataDir,
      rate,
      total,
      warmup,
      waiters,
      connections,
      writers: writerProcesses,
      pollTimeoutMs,
    };
    const trials: Trial[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = methods.map((_, i) => methods[(i + round) % methods.length] as Method);
      for (const method of order) {
        const trial = await runTrial(plan, method, round);
        trials.push(trial);
        console.log(trialLine(trial));
      }
    }

    console.log(`\nmedians over ${rounds} round(s) (latencies in ms, wake − just before COMMIT was sent):`);
    const of = (m: Method) => trials.filter((t) => t.method === m);
    const med = (m: Method, pick: (t: Trial) => number) => median(of(m).map(pick));
    table(
      [
        'method',
        'tx/s',
        'p50',
        'p99',
        'max',
        'p50 after return',
        'p99 after return',
        'COMMIT→return p50',
        'missed',
        'waiters loop busy',
      ],
      methods.map((m) => [
        LABELS[m],
        Math.round(med(m, (t) => t.rate)).toString(),
        ms(med(m, (t) => t.latency.p50)),
        ms(med(m, (t) => t.latency.p99)),
        ms(med(m, (t) => t.latency.max)),
        ms(med(m, (t) => t.fromReturn.p50)),
        ms(med(m, (t) => t.fromReturn.p99)),
        ms(med(m, (t) => t.commit.p50)),
        of(m)
          .reduce((n, t) => n + t.missed + t.spurious, 0)
          .toString(),
        pct(med(m, (t) => t.waiters.loopBusy)),
      ]),
    );
    console.log('\nwhere the time goes (medians over rounds; ms, and CPU ms per transaction written):');
    const perTx = (t: Trial, seconds: number) => (1000 * seconds) / t.writer.position.length;
    const server = (t: Trial, kind: string) => perTx(t, t.serverCpu[kind] ?? 0);
    table(
      [
        'method',
        'COMMIT→return p50/p99',
        'return→decoded p50/p99',
        'decoded→woken p50/p99',
        'start lag p99',
        'CPU: waiters',
        'writer',
        'backends',
        'walsender',
      ],
      methods.map((m) => {
        const pair = (pick: (t: Trial) => Dist | undefined) => {
          const p50 = med(m, (t) => pick(t)?.p50 ?? Number.NaN);
          const p99 = med(m, (t) => pick(t)?.p99 ?? Number.NaN);
          return Number.isNaN(p50) ? '-' : `${ms(p50)} / ${ms(p99)}`;
        };
        return [
          LABELS[m],
          pair((t) => t.commit),
          pair((t) => t.returnToDecode),
          pair((t) => t.apply),
          ms(med(m, (t) => t.startLag.p99)),
          ms(med(m, (t) => perTx(t, t.waiters.cpuSeconds))),
          ms(
            med(m, (t) =>
              perTx(
                t,
                t.writer.cpuSeconds.reduce((a, b) => a + b, 0),
              ),
            ),
          ),
          ms(med(m, (t) => server(t, 'backend'))),
          ms(med(m, (t) => server(t, 'walsender'))),
        ];
      }),
    );
    if (methods.includes('slotstream'))
      for (const m of methods.filter((other) => other !== 'slotstream')) {
        const ratio = (pick: (t: Trial) => number) => (med('slotstream', pick) / med(m, pick)).toFixed(2);
        console.log(
          `slotstream / ${LABELS[m]}: p50 ${ratio((t) => t.latency.p50)}×, p99 ${ratio((t) => t.latency.p99)}×, ` +
            `max ${ratio((t) => t.latency.max)}×`,
        );
      }
    if (methods.includes('slotstream') && methods.includes('notify')) {
      const p99 = med('slotstream', (t) => t.latency.p99);
      const notifyP99 = med('notify', (t) => t.latency.p99);
      const rates = `${Math.round(med('slotstream', (t) => t.rate))} and ${Math.round(med('notify', (t) => t.rate))} tx/s`;
      console.log(
        `target: slotstream p99 ≤ ${LABELS.notify} p99 (equal durability): ${ms(p99)} vs ${ms(notifyP99)} ms ` +
          `at ${rates}: ${p99 <= notifyP99 ? 'met' : 'MISSED'}`,
      );
    }
    if (methods.includes('slotstream')) {
      const p99 = med('slotstream', (t) => t.latency.p99);
      const achieved = med('slotstream', (t) => t.rate);
      const rateOk = achieved >= 0.95 * rate;
      const verdict = p99 < targetP99 && rateOk ? 'met' : 'MISSED';
      console.log(
        `target: slotstream p99 < ${targetP99} ms at ${rate} tx/s: p99 ${ms(p99)} ms at ${Math.round(achieved)} tx/s: ${verdict}` +
          (rateOk ? '' : ' (the writer did not reach 95% of the target rate)'),
      );
    }
    console.log(`after the runs: ${loadAverage()}`);
  } finally {
    for (const step of cleanup.reverse()) await step().catch((err) => console.error('cleanup:', err));
    if (cluster) await cluster.stop('immediate').catch((err) => console.error('stopping the cluster:', err));
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  }
}

await main();
