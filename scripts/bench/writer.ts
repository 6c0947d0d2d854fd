/**
 * How many writes the single writer completes, next to what PostgreSQL itself sustains on the same server
 * in the same run.
 *
 *   node --import tsx scripts/bench/writer.ts [--clients 1,8,32] [--seconds 5] [--rounds 3] [--pg 18|15]
 *
 * For each client count, every method runs for `--seconds` with that many concurrent clients, each issuing
 * its next write as soon as the previous one is acknowledged (closed loop); the methods' order rotates from
 * round to round, and the figures are the medians over rounds. Every method's writes are durable: a write
 * counts once its commit is flushed (synchronous_commit is on, the server's default).
 *
 * - `pgbench INSERT`: pgbench, one single-row INSERT per transaction into a copy of `events` (its indexes
 *   too) whose position comes from a sequence: what the database does with no commit-ordered positions.
 * - `pgbench writer SQL`: pgbench running the statements of one writer transaction as StreamWriter issued
 *   them one transaction per write: allocate under stream_head's lock, insert, position message, commit
 *   asynchronously, then a closing commit that waits for the flush.
 * - `StreamWriter`: `writer.transaction(tx => tx.insert(eventsStream, …))` from `clients` concurrent loops in
 *   this process.
 * - `HTTP /send`: the reference application's writer process, POST /rooms/:room/send from `clients`
 *   keep-alive connections, as a user registered and joined to the room first (each send authenticates its
 *   token and checks the membership: a query each, besides the write).
 *
 * Ratios are against `pgbench INSERT` of the same round. Runs against DATABASE_URL when set (a database
 * of its own is created and dropped), else against a throwaway cluster.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import knexFactory from 'knex';
import { eventsStream } from '../../app/streams.ts';
import { SYSTEM_PG15_BIN } from '../../src/devdb/binaries.ts';
import { knexConfig } from '../../src/migrations/knex-config.ts';
import { StreamWriter } from '../../src/writer/stream-writer.ts';
import { WriterClient } from '../../test/support/app-processes.ts';
import {
  codeVersion,
  exited,
  loadAverage,
  median,
  positive,
  table,
  withBenchDatabase,
  withClient,
} from './common.ts';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '1,8,32' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    pg: { type: 'string', default: '18' },
    only: { type: 'string' },
  },
});

const PGBENCH = path.join(SYSTEM_PG15_BIN, 'pgbench');
const ROOM = '!bench:test';
const SENDER = '@bench:test';
const METHODS = ['pgbench INSERT', 'pgbench writer SQL', 'StreamWriter', 'HTTP /send'] as const;
type Method = (typeof METHODS)[number];

/** One event as the reference application writes it; `:n` marks what pgbench fills in. */
const EVENT_COLUMNS = 'event_id, room_id, sender, type, state_key, content, origin_server_ts';
const eventValues = (id: string) =>
  `'${id}', '${ROOM}', '@bench:test', 'm.room.message', NULL, '{"body":"hello"}', 1700000000000`;

const PGBENCH_INSERT = `INSERT INTO bench_events (${EVENT_COLUMNS}, stream_ordering)
  VALUES (${eventValues("$b' || nextval('bench_ids') || '")}, nextval('bench_ordering'));\n`;

/** StreamWriter's statements for one write, one transaction each (the design before batching). */
const PGBENCH_WRITER_SQL = `BEGIN;
SELECT slotstream_allocate(1) AS position \\gset
SELECT set_config('synchronous_commit', 'off', true), pg_logical_emit_message(true, 'slotstream.position', :position::text);
INSERT INTO events (${EVENT_COLUMNS}, stream_ordering)
  VALUES (${eventValues("$w' || :client_id || '_' || :position || '")}, :position);
COMMIT;
SELECT pg_logical_emit_message(false, 'slotstream.flush', ''), pg_current_xact_id();
`;

async function main(): Promise<void> {
  const clientCounts = args.clients.split(',').map((c) => Math.round(positive('clients', c)));
  const seconds = positive('seconds', args.seconds);
  const rounds = Math.round(positive('rounds', args.rounds));
  const methods = args.only ? (args.only.split(',') as Method[]) : [...METHODS];
  for (const m of methods) if (!METHODS.includes(m)) throw new Error(`--only: unknown method ${m}`);

  await withBenchDatabase('bench_writer', args.pg, async (url, label) => {
    const temp = await mkdtemp(path.join(tmpdir(), 'slotstream-bench-writer-'));
    let writerApp: ChildProcess | undefined;
    try {
      const { migrateChat } = await import('../../app/schema.ts');
      await migrateChat(url);
      await withClient(url, (c) =>
        c.query(
          'CREATE TABLE bench_events (LIKE events INCLUDING ALL); CREATE SEQUENCE bench_ordering; CREATE SEQUENCE bench_ids',
        ),
      );
      const version = await withClient(url, async (c) => (await c.query('SHOW server_version')).rows[0]);
      console.log(
        `server: PostgreSQL ${version.server_version}, ${label}; ${seconds} s per trial, ${rounds} round(s); ` +
          `${codeVersion()}`,
      );
      const scripts = {
        insert: path.join(temp, 'insert.sql'),
        writerSql: path.join(temp, 'writer.sql'),
      };
      await writeFile(scripts.insert, PGBENCH_INSERT);
      await writeFile(scripts.writerSql, PGBENCH_WRITER_SQL);
      const app = methods.includes('HTTP /send') ? await startWriterApp(url) : undefined;
      writerApp = app?.child;
      const client = app && new WriterClient(() => app.url);
      await client?.join(ROOM, SENDER);
      const token = await client?.token(SENDER);

      const rows: string[][] = [];
      for (const clients of clientCounts) {
        const rates = new Map<Method, number[]>(methods.map((m) => [m, []]));
        for (let round = 0; round < rounds; round++) {
          const order = methods.map((_, i) => methods[(i + round) % methods.length] as Method);
          for (const method of order) {
            const rate = await trial(method, { url, clients, seconds, scripts, appUrl: app?.url, token });
            rates.get(method)?.push(rate);
          }
        }
        const base = median(rates.get('pgbench INSERT') ?? []);
        for (const method of methods) {
          const m = median(rates.get(method) ?? []);
          rows.push([
            String(clients),
            method,
            m.toFixed(0),
            Number.isNaN(base) ? '' : `${(m / base).toFixed(2)}×`,
            (rates.get(method) ?? []).map((r) => r.toFixed(0)).join(' '),
          ]);
        }
      }
      console.log(loadAverage());
      table(['clients', 'method', 'writes/s', 'vs INSERT', 'per round'], rows, 2);
    } finally {
      if (writerApp) {
        writerApp.kill('SIGTERM');
        await exited(writerApp);
      }
      await rm(temp, { recursive: true, force: true });
    }
  });
}

interface TrialOptions {
  url: string;
  clients: number;
  seconds: number;
  scripts: { insert: string; writerSql: string };
  appUrl: string | undefined;
  /** SENDER's access token on the writer process. */
  token: string | undefined;
}

/** Writes per second of one method at one client count. */
async function trial(method: Method, o: TrialOptions): Promise<number> {
  switch (method) {
    case 'pgbench INSERT':
      return pgbench(o.url, o.scripts.insert, o.clients, o.seconds);
    case 'pgbench writer SQL':
      return pgbench(o.url, o.scripts.writerSql, o.clients, o.seconds);
    case 'StreamWriter':
      return streamWriter(o.url, o.clients, o.seconds);
    case 'HTTP /send':
      return httpSends(o.appUrl as string, o.token as string, o.clients, o.seconds);
  }
}

async function pgbench(url: string, script: string, clients: number, seconds: number): Promise<number> {
  const { stdout } = await promisify(execFile)(PGBENCH, [
    '--no-vacuum',
    `--client=${clients}`,
    `--jobs=${Math.min(clients, 2)}`,
    `--time=${seconds}`,
    `--file=${script}`,
    url,
  ]);
  const tps = /tps = ([0-9.]+)/.exec(stdout);
  if (!tps) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return Number(tps[1]);
}

/** `clients` loops of single-insert writer transactions, over a pool of as many connections. */
async function streamWriter(url: string, clients: number, seconds: number): Promise<number> {
  const knex = knexFactory({ ...knexConfig(url), pool: { min: clients, max: clients } });
  try {
    const writer = new StreamWriter(knex);
    await Promise.all(Array.from({ length: clients }, () => knex.raw('SELECT 1')));
    let done = 0;
    const until = performance.now() + seconds * 1000;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async (_, client) => {
        for (let i = 0; performance.now() < until; i++) {
          await writer.transaction((tx) =>
            tx.insert(eventsStream, {
              event_id: `$s${client}_${i}_${t0}`,
              room_id: ROOM,
              sender: '@bench:test',
              type: 'm.room.message',
              state_key: null,
              content: { body: 'hello' },
              origin_server_ts: 1_700_000_000_000,
            }),
          );
          done++;
        }
      }),
    );
    return done / ((performance.now() - t0) / 1000);
  } finally {
    await knex.destroy();
  }
}

async function startWriterApp(url: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ['bin/slotstream.js', 'writer', '--port', '0', '--database-url', url],
    { cwd: path.resolve(import.meta.dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const listening = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /"url":"(http:[^"]+)"/.exec(buffered);
      if (match) resolve(match[1] as string);
    });
    child.on('exit', (code) => reject(new Error(`the writer exited (${code}) before it listened`)));
  });
  child.stdout?.resume();
  return { child, url: listening };
}

async function httpSends(appUrl: string, token: string, clients: number, seconds: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const body = JSON.stringify({ sender: SENDER, type: 'm.room.message', content: { body: 'hello' } });
  const target = new URL(`/rooms/${encodeURIComponent(ROOM)}/send`, appUrl);
  let done = 0;
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        await post(agent, target, token, body);
        done++;
      }
    }),
  );
  agent.destroy();
  return done / ((performance.now() - t0) / 1000);
}

function post(agent: Agent, target: URL, token: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`/send answered ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

await main();
