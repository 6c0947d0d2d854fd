/**
 * `slotstream tail` benchmark (not a test): how fast the command prints a backlog, next to pg_recvlogical
 * reading the same backlog, and how much memory it takes for one big transaction.
 *
 *   node --import tsx scripts/bench/tail.ts [--rows 400000] [--per-tx 100] [--rounds 5] [--big-rows 1000000]
 *                                           [--pg 18|15]
 *
 * Server: DATABASE_URL if set (the bench creates and drops its own database there), otherwise a throwaway
 * cluster from the embedded PostgreSQL 18 (`--pg 15`: the machine's PostgreSQL 15).
 *
 * The backlog: --rows rows in transactions of --per-tx, of a table shaped like the reference application's
 * `events` (two bigints, five short text columns, a small jsonb document) and filled like the catch-up
 * benchmark's, so the figures compare with its. Every slot is created before the load, so every run decodes
 * exactly the same WAL; each slot is read once and dropped.
 *
 * The two, one after the other, their order alternating from round to round:
 *   tail            `node bin/slotstream.js tail` with Node's default settings, its stdout a pipe this process
 *                   drains, counting lines; timed from its "streaming slot" line to the last line. Its peak
 *                   RSS is the kernel's (VmHWM of its node process).
 *   pg_recvlogical  pgoutput (protocol 1) into /dev/null, up to the WAL position after the load (see
 *                   runRecvlogical in common.ts).
 * pg_recvlogical with pgoutput puts the same work on the walsender as tail (same plugin, same WAL) and does
 * nothing with what it receives: its rate is the walsender's own pace, the most any pgoutput consumer can
 * reach, so the ratio says how much of that pace tail keeps. pg_recvlogical with test_decoding would print
 * text lines like tail, but the text is then made by the walsender, which decodes about half as fast that
 * way: it would measure the server, not the client.
 *
 * Then one transaction of --big-rows rows into the same table, printed by tail: its rate and peak RSS.
 * Each run also reports the client's CPU seconds and the walsender's (from /proc when the server runs here):
 * a walsender busy all along sets the pace. The machine's load average is printed before and after: other
 * work on it shows up in the figures.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { formatLsn, parseLsn } from '../../src/replication/lsn.ts';
import {
  codeVersion,
  dropSlot,
  loadAverage,
  makeBacklog,
  median,
  positive,
  procStat,
  runRecvlogical,
  table,
  watchWalsender,
  withBenchDatabase,
  withClient,
} from './common.ts';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '400000' },
    'per-tx': { type: 'string', default: '100' },
    rounds: { type: 'string', default: '5' },
    'big-rows': { type: 'string', default: '1000000' },
    pg: { type: 'string', default: '18' },
  },
});

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'slotstream.js');
const TABLE = 'bench_events';
const PUBLICATION = 'bench_tail';
const PEERS = ['tail', 'pg_recvlogical'] as const;
type Peer = (typeof PEERS)[number];

interface Run {
  seconds: number;
  /** CPU seconds (user + system) of the client's process during the run. */
  clientCpu: number;
  walsenderCpu?: number;
}

interface TailRun extends Run {
  /** VmHWM of tail's process when the last line came, and its RSS when streaming began, in MB. */
  peakRssMb: number;
  startRssMb: number;
}

const int = (name: string, value: string | undefined) => {
  const n = positive(name, value);
  if (!Number.isSafeInteger(n)) throw new Error(`--${name} must be an integer, got ${value}`);
  return n;
};
const fmtRate = (rate: number) => Math.round(rate).toLocaleString('en-US');
const fmtCpu = (seconds: number | undefined) => (seconds === undefined ? '-' : `${seconds.toFixed(1)} s`);
const fmtRows = (rows: number) => rows.toLocaleString('en-US');

async function createTable(url: string): Promise<void> {
  await withClient(url, async (c) => {
    // Autovacuum would otherwise start on the loaded table during the runs: a third busy process on two cores.
    await c.query(`CREATE TABLE ${TABLE} (stream_ordering bigint PRIMARY KEY, event_id text NOT NULL UNIQUE,
      room_id text NOT NULL, type text NOT NULL, state_key text, sender text NOT NULL, content jsonb NOT NULL,
      origin_server_ts bigint NOT NULL) WITH (autovacuum_enabled = false)`);
    await c.query(`CREATE PUBLICATION ${PUBLICATION} FOR TABLE ${TABLE}`);
  });
}

/** Inserts rows `first`…`first + count - 1` server-side, `perTx` to a transaction. */
async function load(client: pg.Client, first: number, count: number, perTx: number): Promise<void> {
  await client.query('SET synchronous_commit = off');
  await client.query(`
    DO $bench$
    DECLARE next bigint := ${first};
    BEGIN
      WHILE next < ${first + count} LOOP
        INSERT INTO ${TABLE} (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
        SELECT n, '$e' || n, '!room:bench', 'm.room.message', '@alice:bench',
               jsonb_build_object('body', 'message ' || n), 1764151200000 + n
          FROM generate_series(next, LEAST(next + ${perTx} - 1, ${first + count - 1})) AS n;
        COMMIT;
        next := next + ${perTx};
      END LOOP;
    END
    $bench$`);
}

/** VmRSS and VmHWM of a live process, in MB. */
function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** `slotstream tail` on `slot` until it has printed `rows` lines; stopped with SIGTERM after. */
async function runTail(url: string, slot: string, rows: number, cwd: string): Promise<TailRun> {
  const tail = spawn(
    process.execPath,
    [BIN, 'tail', '--slot', slot, '--publication', PUBLICATION, '--database-url', url],
    { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DATABASE_URL: '' } },
  );
  const pid = tail.pid as number;
  const exited = new Promise<number | null>((resolve) => tail.on('close', resolve));
  let stderr = '';
  let start = 0;
  let startCpu = 0;
  let startRssMb = 0;
  tail.stderr.setEncoding('utf8');
  tail.stderr.on('data', (chunk: string) => {
    stderr += chunk;
    if (start === 0 && stderr.includes('streaming slot')) {
      start = performance.now();
      startCpu = procStat(pid)?.cpu ?? 0;
      startRssMb = memoryMb(pid).rss;
    }
  });
  let lines = 0;
  let last = Buffer.alloc(0);
  const done = new Promise<TailRun>((resolve, reject) => {
    tail.stdout.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      last = Buffer.concat([last, chunk]).subarray(-4096); // ends with the last line so far
      if (lines === rows)
        resolve({
          seconds: (performance.now() - start) / 1000,
          clientCpu: (procStat(pid)?.cpu ?? 0) - startCpu,
          peakRssMb: memoryMb(pid).peak,
          startRssMb,
        });
    });
    void exited.then((code) => reject(new Error(`tail exited (${code}) after ${lines} lines:\n${stderr}`)));
  });
  const result = await done;
  const lastLine = last.toString().trimEnd().split('\n').at(-1) ?? '';
  const lastCommitLsn = (JSON.parse(lastLine) as { commit_lsn: string }).commit_lsn;
  // tail acknowledges a transaction once its lines are written, and reports it within moments: stopped
  // before that, it would leave the last one in the slot (to be printed again by the next tail).
  await confirmed(url, slot, parseLsn(lastCommitLsn) + 1n);
  tail.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) throw new Error(`tail exited with ${code}:\n${stderr}`);
  if (lines !== rows) throw new Error(`tail printed ${lines} lines, expected ${rows}`);
  return result;
}

/** Waits until `slot` has confirmed `lsn` (up to 10 s). */
async function confirmed(url: string, slot: string, lsn: bigint): Promise<void> {
  await withClient(url, async (c) => {
    for (let i = 0; i < 200; i++) {
      const { rows } = await c.query(
        'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      if (parseLsn(rows[0]?.lsn as string) >= lsn) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`slot ${slot} did not confirm ${formatLsn(lsn)}`);
  });
}

/** Runs `peer` on `slot` with its walsender watched, until the slot confirms the whole backlog; drops it. */
async function measure(
  peer: Peer,
  url: string,
  slot: string,
  rows: number,
  endLsn: string,
  cwd: string,
): Promise<Run | TailRun> {
  const walsender = watchWalsender(url, slot);
  const tail = peer === 'tail' ? await runTail(url, slot, rows, cwd) : undefined;
  const run = tail ?? (await runRecvlogical(url, slot, PUBLICATION, endLsn));
  const walsenderCpu = await walsender();
  // pg_recvlogical confirms what it received, up to the end position (tail's own wait is in runTail).
  if (!tail) await confirmed(url, slot, parseLsn(endLsn));
  await dropSlot(url, slot);
  return { ...run, walsenderCpu };
}

function describe(peer: Peer, rows: number, run: Run | TailRun): string {
  const memory = 'peakRssMb' in run ? `  peak RSS ${run.peakRssMb.toFixed(0)} MB` : '';
  return (
    `${peer.padEnd(14)} ${run.seconds.toFixed(2).padStart(6)} s ${fmtRate(rows / run.seconds).padStart(8)} rows/s` +
    `  client CPU ${fmtCpu(run.clientCpu)}  walsender CPU ${fmtCpu(run.walsenderCpu)}${memory}`
  );
}

/** The backlog, read by each peer once per round; returns the runs and the median rates' ratio. */
async function backlogRounds(url: string, rows: number, perTx: number, rounds: number, cwd: string) {
  const slot = (peer: Peer, round: number) => `bench_${peer}_${round}`;
  const slots = Array.from({ length: rounds }, (_, round) => PEERS.map((peer) => slot(peer, round))).flat();
  const { endLsn, loadSeconds } = await makeBacklog(url, slots, (c) => load(c, 1, rows, perTx));
  console.log(`load: ${loadSeconds.toFixed(1)} s; backlog ends at ${endLsn}; ${loadAverage()}`);

  const runs = new Map<Peer, Run[]>(PEERS.map((p) => [p, []]));
  for (let round = 0; round < rounds; round++) {
    for (const peer of round % 2 === 0 ? PEERS : [...PEERS].reverse()) {
      const run = await measure(peer, url, slot(peer, round), rows, endLsn, cwd);
      runs.get(peer)?.push(run);
      console.log(`  round ${round + 1}  ${describe(peer, rows, run)}`);
    }
  }
  const of = (peer: Peer) => runs.get(peer) ?? [];
  const medianOf = (peer: Peer, pick: (r: Run) => number | undefined) => {
    const values = of(peer)
      .map(pick)
      .filter((v): v is number => v !== undefined);
    return values.length ? median(values) : undefined;
  };
  const rate = (peer: Peer) => median(of(peer).map((r) => rows / r.seconds));
  console.log();
  table(
    ['', 'median rows/s', 'runs (rows/s)', 'client CPU', 'walsender CPU'],
    PEERS.map((peer) => [
      peer,
      fmtRate(rate(peer)),
      of(peer)
        .map((r) => fmtRate(rows / r.seconds))
        .join(', '),
      fmtCpu(medianOf(peer, (r) => r.clientCpu)),
      fmtCpu(medianOf(peer, (r) => r.walsenderCpu)),
    ]),
  );
  const ratio = rate('tail') / rate('pg_recvlogical');
  const perRound = of('tail').map(
    (t, i) => `${((of('pg_recvlogical')[i]?.seconds ?? 0) / t.seconds).toFixed(2)}×`,
  );
  console.log(`tail / pg_recvlogical: ${ratio.toFixed(2)}× (medians); round by round ${perRound.join(', ')}`);
  console.log('(client and walsender CPU: medians of the CPU seconds of a run)');
  return { tail: rate('tail'), recvlogical: rate('pg_recvlogical'), ratio };
}

/** One transaction of `rows` rows after the backlog's `first - 1`, printed by tail. */
async function bigTransaction(url: string, first: number, rows: number, cwd: string): Promise<TailRun> {
  const slot = 'bench_tail_big';
  const { endLsn } = await makeBacklog(url, [slot], (c) => load(c, first, rows, rows));
  const run = (await measure('tail', url, slot, rows, endLsn, cwd)) as TailRun;
  console.log(
    `\none transaction of ${fmtRows(rows)} rows: ${describe('tail', rows, run)} ` +
      `(${run.startRssMb.toFixed(0)} MB when streaming began)`,
  );
  return run;
}

async function main(): Promise<void> {
  const rows = int('rows', args.rows);
  const perTx = int('per-tx', args['per-tx']);
  const rounds = int('rounds', args.rounds);
  const bigRows = int('big-rows', args['big-rows']);
  if (args.pg !== '15' && args.pg !== '18') throw new Error('--pg must be 15 or 18');
  // tail runs where no slotstream.config is: a project's config would only add start-up work.
  const cwd = await mkdtemp(path.join(tmpdir(), 'slotstream-bench-tail-'));
  try {
    await withBenchDatabase('bench_tail', args.pg, async (url, label) => {
      try {
        const { server_version: version } = await withClient(
          url,
          async (c) => (await c.query('SHOW server_version')).rows[0],
        );
        console.log(
          `server: PostgreSQL ${version}, ${label}; ${codeVersion()}\nbacklog: ${fmtRows(rows)} rows of ` +
            `${TABLE} in transactions of ${perTx}; ${rounds} rounds; then one transaction of ${fmtRows(bigRows)} rows`,
        );
        await createTable(url);
        const backlog = await backlogRounds(url, rows, perTx, rounds, cwd);
        const big = await bigTransaction(url, rows + 1, bigRows, cwd);
        console.log(`after the runs: ${loadAverage()}`);
        console.log(
          `\nsummary: PostgreSQL ${version}, ${fmtRows(rows)} rows / ${perTx} per tx, median of ${rounds}: ` +
            `tail ${fmtRate(backlog.tail)} rows/s, pg_recvlogical ${fmtRate(backlog.recvlogical)} rows/s, ` +
            `${backlog.ratio.toFixed(2)}×; one ${fmtRows(bigRows)}-row transaction: tail peak RSS ` +
            `${big.peakRssMb.toFixed(0)} MB`,
        );
      } finally {
        // A slot left by a failed run would pin WAL, and keeps the database from being dropped.
        await withClient(url, (c) =>
          c.query(
            'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots ' +
              'WHERE database = current_database() AND NOT active',
          ),
        );
      }
    });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

await main();
