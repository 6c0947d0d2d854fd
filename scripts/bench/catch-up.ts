/**
 * Catch-up benchmark (not a test): a backlog of Synapse-like `events` rows in small transactions, decoded
 * from a slot by three readers, one after the other:
 *
 *   ours                  subscribe() from src/replication: typed rows, each commit acknowledged
 *   pg_recvlogical        PostgreSQL's own client, raw pgoutput (proto 1) written to /dev/null
 *   pg-logical-replication LogicalReplicationService + PgoutputPlugin (proto 1), each commit acknowledged
 *
 *   npm run bench -- [--rows N] [--per-tx N] [--reps N] [--pg 15|18] [--only ours,recvlogical,kibae]
 *                    [--read-buffer BYTES]   (ours: its read buffer, default 4 MiB)
 *
 * Server: DATABASE_URL if set (the bench creates and drops its own database there), otherwise a throwaway
 * cluster from the embedded PostgreSQL 18 (`--pg 15`: the machine's PostgreSQL 15) in a temporary directory.
 *
 * Method. All slots (readers × repetitions) are created before one load, so every reader of every
 * repetition decodes exactly the same backlog; each slot is read once and dropped. Readers run
 * sequentially, never concurrently, and their order rotates with the repetition. The two Node readers run
 * in a fresh child process each (same node flags as this one, so `node --cpu-prof` profiles them too), so
 * one's heap and JIT state do not carry into another's run and the peak RSS is the reader's own.
 * A run is timed from the start of streaming to the last row:
 *   ours           from its 'connected' status (START_REPLICATION sent) to the last Insert;
 *   kibae          from its 'start' event (the server's CopyBothResponse) to the last Insert;
 *   pg_recvlogical from its "starting log streaming" line (-v, just before START_REPLICATION) to its
 *                  "end position … reached" line: it runs with --endpos = the WAL position after the load
 *                  and exits by itself there, which is exact where polling the slot would add up to a
 *                  status interval. The slot's confirmed_flush_lsn afterwards proves it read to the end.
 * Each run also reports the reader's CPU seconds (user + system: the Node readers' process.cpuUsage over the
 * timed run, pg_recvlogical's from /proc once it has exited), the walsender's (read from /proc when the
 * server runs on this machine), and for the Node readers the event loop's busy share: a reader at well
 * under 100% is waiting for the server, not the other way round. The verdict compares ours with
 * pg_recvlogical on both counts, as ratios of the medians: reader CPU (target at most 1.2×) and rows/s (at
 * least 0.95×); the per-repetition ratios (same backlog, same moment) are printed beside them. Our reader
 * uses the highest pgoutput protocol the server speaks (3 on 15, 4 on 16+, with streaming and messages on,
 * as in production); the others use protocol 1.
 * The machine's load average is printed before and after: other work on it shows up in the figures.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { embeddedBinaries, SYSTEM_PG15_BIN, systemBinaries } from '../../src/devdb/binaries.ts';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';
import { subscribe } from '../../src/replication/subscribe.ts';
import {
  codeVersion,
  loadAverage,
  makeBacklog,
  median,
  positive,
  runRecvlogical,
  table,
  watchWalsender,
  withClient,
} from './common.ts';

const PUBLICATION = 'slotstream';
const READERS = ['ours', 'recvlogical', 'kibae'] as const;
type Reader = (typeof READERS)[number];
const LABELS: Record<Reader, string> = {
  ours: 'slotstream subscribe()',
  recvlogical: 'pg_recvlogical',
  kibae: 'pg-logical-replication',
};

interface RunResult {
  rows: number;
  seconds: number;
  /** Peak resident set size of the reader's process, bytes (Node readers only). */
  peakRss?: number;
  /** Its RSS before it connected (Node, tsx and the modules loaded). */
  baseRss?: number;
  /** End LSN of the last transaction the reader saw (Node readers only). */
  lastCommitEnd?: string;
  /** CPU seconds (user + system) the reader's process spent during the run. */
  clientCpu?: number;
  /** Share of the run the reader's event loop was busy (Node readers): low means waiting for the server. */
  loopBusy?: number;
  /** CPU seconds of the walsender serving the run (when the server runs on this machine). */
  walsenderCpu?: number;
}

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '500000' },
    'per-tx': { type: 'string', default: '100' },
    reps: { type: 'string', default: '3' },
    pg: { type: 'string', default: '18' },
    only: { type: 'string' },
    'read-buffer': { type: 'string' },
    // Internal: this process is a child running one Node reader.
    worker: { type: 'string' },
    url: { type: 'string' },
    slot: { type: 'string' },
  },
});

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

const now = () => performance.now();

// ---------------------------------------------------------------------------------------------------------
// Node readers (child processes)

const cpuSeconds = (usage: NodeJS.CpuUsage) => {
  if (process.env.BENCH_DEBUG)
    console.error(
      `  [cpu: user ${(usage.user / 1e6).toFixed(2)} s, system ${(usage.system / 1e6).toFixed(2)} s]`,
    );
  return (usage.user + usage.system) / 1e6;
};

/** Samples the process's RSS until stopped; returns the peak. */
function rssSampler(): () => { peakRss: number; baseRss: number } {
  const baseRss = process.memoryUsage.rss();
  let peak = baseRss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 100); // process.memoryUsage.rss() reads /proc: sampled sparingly, it costs the reader too
  return () => {
    clearInterval(timer);
    return { peakRss: Math.max(peak, process.memoryUsage.rss()), baseRss };
  };
}

async function runOurs(
  url: string,
  slot: string,
  rows: number,
  readBufferBytes?: number,
): Promise<RunResult> {
  let start = 0;
  let end = 0;
  let inserts = 0;
  let sink = 0;
  let lastCommitEnd = 0n;
  let cpuStart = process.cpuUsage();
  let cpuEnd = cpuStart;
  let eluStart = performance.eventLoopUtilization();
  let eluEnd = eluStart;
  const stopSampling = rssSampler();
  const sub = subscribe({
    connectionString: url,
    slot,
    publication: PUBLICATION,
    readBufferBytes,
    onStatus: (status) => {
      if (status.event === 'connected') {
        start = now();
        cpuStart = process.cpuUsage();
        eluStart = performance.eventLoopUtilization();
      } else if (status.event === 'reconnecting') throw status.error;
    },
  });
  for await (const event of sub) {
    if (event.tag === 'insert') {
      sink += Number(event.new.stream_ordering); // the row is decoded eagerly; touch it anyway
      if (++inserts === rows) {
        end = now();
        cpuEnd = process.cpuUsage(cpuStart);
        eluEnd = performance.eventLoopUtilization(eluStart);
      }
    } else if (event.tag === 'commit') {
      sub.ack(event);
      lastCommitEnd = event.endLsn;
      if (inserts >= rows) break;
    } else if (event.tag === 'reset') {
      throw new Error(`unexpected reset (${event.reason})`);
    }
  }
  await sub.close();
  const { peakRss, baseRss } = stopSampling();
  if (inserts !== rows) throw new Error(`ours: saw ${inserts} inserts, expected ${rows}`);
  if (sink !== (rows * (rows + 1)) / 2) throw new Error('ours: wrong rows');
  return {
    rows: inserts,
    seconds: (end - start) / 1000,
    peakRss,
    baseRss,
    lastCommitEnd: formatLsn(lastCommitEnd),
    clientCpu: cpuSeconds(cpuEnd),
    loopBusy: eluEnd.utilization,
  };
}

async function runKibae(url: string, slot: string, rows: number): Promise<RunResult> {
  const { LogicalReplicationService, PgoutputPlugin } = await import('pg-logical-replication');
  let start = 0;
  let end = 0;
  let inserts = 0;
  let sink = 0;
  let lastCommitEnd = '';
  let cpuStart = process.cpuUsage();
  let cpuEnd = cpuStart;
  let eluStart = performance.eventLoopUtilization();
  let eluEnd = eluStart;
  const stopSampling = rssSampler();
  const service = new LogicalReplicationService(
    { connectionString: url },
    { acknowledge: { auto: false, timeoutSeconds: 0 } },
  );
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [PUBLICATION] });
  const finished = new Promise<void>((resolve, reject) => {
    service.on('error', reject);
    service.on('start', () => {
      start = now();
      cpuStart = process.cpuUsage();
      eluStart = performance.eventLoopUtilization();
    });
    service.on('data', (_lsn: string, log: { tag: string; new?: Record<string, unknown> } & KibaeCommit) => {
      if (log.tag === 'insert') {
        sink += Number(log.new?.stream_ordering);
        if (++inserts === rows) {
          end = now();
          cpuEnd = process.cpuUsage(cpuStart);
          eluEnd = performance.eventLoopUtilization(eluStart);
        }
      } else if (log.tag === 'commit' && log.commitEndLsn) {
        void service.acknowledge(log.commitEndLsn);
        lastCommitEnd = log.commitEndLsn;
        if (inserts >= rows) resolve();
      }
    });
    service.subscribe(plugin, slot).catch(reject);
  });
  await finished;
  await service.stop();
  const { peakRss, baseRss } = stopSampling();
  if (inserts !== rows) throw new Error(`kibae: saw ${inserts} inserts, expected ${rows}`);
  if (sink !== (rows * (rows + 1)) / 2) throw new Error('kibae: wrong rows');
  return {
    rows: inserts,
    seconds: (end - start) / 1000,
    peakRss,
    baseRss,
    lastCommitEnd,
    clientCpu: cpuSeconds(cpuEnd),
    loopBusy: eluEnd.utilization,
  };
}

interface KibaeCommit {
  commitEndLsn?: string | null;
}

/** Runs a Node reader in a child process (this script with --worker). */
function runWorker(reader: 'ours' | 'kibae', url: string, slot: string, rows: number): Promise<RunResult> {
  const script = process.argv[1];
  if (!script) throw new Error('no script path');
  const child: ChildProcess = fork(
    script,
    [
      ...['--worker', reader, '--url', url, '--slot', slot, '--rows', String(rows)],
      ...(args['read-buffer'] ? ['--read-buffer', args['read-buffer']] : []),
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  return new Promise((resolve, reject) => {
    let result: RunResult | undefined;
    child.on('message', (message) => {
      result = message as RunResult;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`${reader} worker failed (${signal ?? `exit ${code}`})`));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Orchestration

function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

function parseLsn(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

const fmtRate = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const fmtCpu = (seconds: number | undefined) => (seconds === undefined ? '-' : `${seconds.toFixed(2)} s`);

/** Loads `rows` events in transactions of `perTx`, server-side: one COMMIT per transaction. */
async function load(client: pg.Client, rows: number, perTx: number): Promise<void> {
  await client.query('SET synchronous_commit = off');
  await client.query(`
    DO $bench$
    DECLARE
      first bigint := 1;
      head bigint;
    BEGIN
      WHILE first <= ${rows} LOOP
        head := slotstream_allocate(LEAST(${perTx}, ${rows} - first + 1));
        INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
        SELECT n, '$e' || n, '!room:bench', 'm.room.message', '@alice:bench',
               jsonb_build_object('body', 'message ' || n), 1764151200000 + n
          FROM generate_series(first, head) AS n;
        COMMIT;
        first := first + ${perTx};
      END LOOP;
    END
    $bench$`);
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

async function main(): Promise<void> {
  const rows = positiveInt('rows', args.rows);
  const perTx = positiveInt('per-tx', args['per-tx']);
  const reps = positiveInt('reps', args.reps);
  const readers: Reader[] = args.only
    ? args.only.split(',').map((r) => {
        if (!(READERS as readonly string[]).includes(r)) throw new Error(`--only: unknown reader ${r}`);
        return r as Reader;
      })
    : [...READERS];

  let cluster: LocalCluster | undefined;
  let tempDir: string | undefined;
  let adminUrl = process.env.DATABASE_URL;
  let serverLabel = 'DATABASE_URL';
  const cleanup: (() => Promise<void>)[] = [];
  try {
    if (!adminUrl) {
      const binaries = args.pg === '15' ? systemBinaries(SYSTEM_PG15_BIN) : embeddedBinaries();
      if (!binaries) throw new Error(`no PostgreSQL 15 at ${SYSTEM_PG15_BIN}`);
      if (args.pg !== '15' && args.pg !== '18') throw new Error('--pg must be 15 or 18');
      tempDir = await mkdtemp(path.join(tmpdir(), 'slotstream-bench-'));
      cluster = await LocalCluster.start({ binaries, dataDir: path.join(tempDir, 'data') });
      adminUrl = cluster.url();
      serverLabel = `throwaway cluster (${binaries.label})`;
    }
    const admin = adminUrl;
    const version = await withClient(admin, async (c) => (await c.query('SHOW server_version')).rows[0]);
    const database = `slotstream_bench_${process.pid}`;
    await withClient(admin, (c) => c.query(`CREATE DATABASE ${database}`));
    cleanup.push(() =>
      withClient(admin, async (c) => {
        await c.query(
          'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1',
          [database],
        );
        await c.query(`DROP DATABASE IF EXISTS ${database}`);
      }),
    );
    const url = withDatabase(admin, database);
    console.log(codeVersion());
    console.log(
      `server: PostgreSQL ${version.server_version}, ${serverLabel}; backlog: ${rows.toLocaleString('en-US')} ` +
        `rows in transactions of ${perTx}; ${reps} repetition(s); readers: ${readers.join(', ')}`,
    );
    // Imported here, not at the top: the reader child processes load this module too and should not carry knex.
    const { migrateChat } = await import('../../app/schema.ts');
    await migrateChat(url);

    const slotName = (reader: Reader, rep: number) => `bench_${reader}_${rep}`;
    // Autovacuum would otherwise start on the loaded table during the runs: a third busy process on two cores.
    await withClient(url, (c) => c.query('ALTER TABLE events SET (autovacuum_enabled = false)'));
    const slots = Array.from({ length: reps }, (_, rep) =>
      readers.map((reader) => slotName(reader, rep)),
    ).flat();
    const { endLsn, loadSeconds } = await makeBacklog(url, slots, (c) => load(c, rows, perTx));
    console.log(`load: ${loadSeconds.toFixed(1)} s; backlog ends at ${endLsn}; ${loadAverage()}`);

    const results = new Map<Reader, RunResult[]>(readers.map((r) => [r, []]));
    for (let rep = 0; rep < reps; rep++) {
      const order = readers.map((_, i) => readers[(i + rep) % readers.length] as Reader);
      for (const reader of order) {
        const slot = slotName(reader, rep);
        const walsender = watchWalsender(url, slot);
        const result =
          reader === 'recvlogical'
            ? { rows, ...(await runRecvlogical(url, slot, PUBLICATION, endLsn)) }
            : await runWorker(reader, url, slot, rows);
        result.walsenderCpu = await walsender();
        const flushed = await withClient(url, async (c) => {
          const { rows: r } = await c.query(
            'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
            [slot],
          );
          await c.query('SELECT pg_drop_replication_slot($1)', [slot]);
          return r[0]?.lsn as string;
        });
        // Every reader must have acknowledged the whole backlog: its last commit (Node readers), or the
        // end position (pg_recvlogical, whose flush report is what it wrote).
        const expected = result.lastCommitEnd ?? endLsn;
        if (parseLsn(flushed) < parseLsn(expected))
          throw new Error(`${reader}: slot flushed to ${flushed}, expected at least ${expected}`);
        results.get(reader)?.push(result);
        console.log(
          `  rep ${rep + 1}  ${LABELS[reader].padEnd(23)} ${result.seconds.toFixed(2).padStart(6)} s ` +
            `${fmtRate(result.rows / result.seconds).padStart(9)} rows/s  client CPU ${fmtCpu(result.clientCpu)}  ` +
            `walsender CPU ${fmtCpu(result.walsenderCpu)}` +
            (result.loopBusy === undefined ? '' : `  loop busy ${(100 * result.loopBusy).toFixed(0)}%`) +
            (result.peakRss
              ? `  peak RSS ${fmtMb(result.peakRss)} (+${fmtMb(result.peakRss - (result.baseRss ?? 0))})`
              : '') +
            `  (slot flushed to ${flushed})`,
        );
      }
    }

    const rates = new Map(
      readers.map((r) => [r, median((results.get(r) ?? []).map((x) => x.rows / x.seconds))]),
    );
    const medianOf = (runs: RunResult[], pick: (r: RunResult) => number | undefined) => {
      const values = runs.map(pick).filter((v): v is number => v !== undefined);
      return values.length ? median(values) : undefined;
    };
    console.log();
    const header = ['reader', 'median rows/s', 'runs (rows/s)', 'reader CPU', 'walsender CPU', 'peak RSS'];
    const lines = readers.map((reader) => {
      const runs = results.get(reader) ?? [];
      const peak = runs.reduce<RunResult | undefined>(
        (max, r) => ((r.peakRss ?? 0) > (max?.peakRss ?? 0) ? r : max),
        undefined,
      );
      const rss = peak?.peakRss
        ? `${fmtMb(peak.peakRss)} (+${fmtMb(peak.peakRss - (peak.baseRss ?? 0))})`
        : '-';
      return [
        LABELS[reader],
        fmtRate(rates.get(reader) ?? 0),
        runs.map((r) => fmtRate(r.rows / r.seconds)).join(', '),
        fmtCpu(medianOf(runs, (r) => r.clientCpu)),
        fmtCpu(medianOf(runs, (r) => r.walsenderCpu)),
        rss,
      ];
    });
    table(header, lines);
    console.log(
      '(reader/walsender CPU: median CPU seconds of a run; peak RSS: highest of the runs, (+growth over the ' +
        'process before it connected: Node, tsx and modules))',
    );
    const summary: string[] = [];
    /** Ours against `peer` on one figure: the ratio of the medians, and each repetition's own ratio. */
    const compare = (
      peer: Reader,
      what: string,
      pick: (r: RunResult) => number | undefined,
      target: { atMost?: number; atLeast?: number },
    ) => {
      const ours = medianOf(results.get('ours') ?? [], pick);
      const theirs = medianOf(results.get(peer) ?? [], pick);
      if (ours === undefined || theirs === undefined) return;
      const r = ours / theirs;
      const perRep = (results.get('ours') ?? []).map((run, i) => {
        const other = results.get(peer)?.[i];
        const [a, b] = [pick(run), other && pick(other)];
        return a === undefined || b === undefined ? '-' : `${(a / b).toFixed(2)}×`;
      });
      const met = target.atMost !== undefined ? r <= target.atMost : r >= (target.atLeast ?? 0);
      const bound =
        target.atMost !== undefined ? `≤ ${target.atMost.toFixed(2)}` : `≥ ${target.atLeast?.toFixed(2)}`;
      const verdict = met ? 'met' : 'MISSED';
      console.log(
        `${what}, ours / ${LABELS[peer]}: ${r.toFixed(2)}×  (target ${bound}×: ${verdict}; per repetition ${perRep.join(', ')})`,
      );
      summary.push(`${what} ${r.toFixed(2)}× ${LABELS[peer]} (${bound}× ${verdict})`);
    };
    console.log();
    compare('recvlogical', 'reader CPU', (r) => r.clientCpu, { atMost: 1.2 });
    compare('recvlogical', 'rows/s', (r) => r.rows / r.seconds, { atLeast: 0.95 });
    compare('kibae', 'rows/s', (r) => r.rows / r.seconds, { atLeast: 1.5 });
    console.log(`after the runs: ${loadAverage()}`);
    const ours = rates.get('ours');
    const oursRss = Math.max(...(results.get('ours') ?? []).map((r) => r.peakRss ?? 0));
    console.log(
      `\nsummary: PostgreSQL ${version.server_version}, ${rows.toLocaleString('en-US')} rows / ${perTx} per tx, ` +
        `median of ${reps}: ours ${ours === undefined ? '-' : `${fmtRate(ours)} rows/s`}` +
        (oursRss > 0 ? ` (peak RSS ${fmtMb(oursRss)})` : '') +
        (summary.length ? `; ${summary.join('; ')}` : ''),
    );
  } finally {
    for (const step of cleanup.reverse()) await step().catch((err) => console.error('cleanup:', err));
    if (cluster) await cluster.stop().catch((err) => console.error('stopping the cluster:', err));
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  }
}

if (args.worker) {
  const reader = args.worker;
  const url = args.url;
  const slot = args.slot;
  if ((reader !== 'ours' && reader !== 'kibae') || !url || !slot) throw new Error('bad worker arguments');
  const rows = positiveInt('rows', args.rows);
  const readBuffer = args['read-buffer'] ? positive('read-buffer', args['read-buffer']) : undefined;
  const result = await (reader === 'ours' ? runOurs(url, slot, rows, readBuffer) : runKibae(url, slot, rows));
  process.send?.(result);
  process.disconnect?.();
} else {
  await main();
}
