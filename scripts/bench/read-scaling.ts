/**
 * Read scaling of the reference deployment (not a test): how many reads readers serve from their caches and
 * change caches, next to readers started with `--no-caches`, which query PostgreSQL on every request, with
 * a writer writing at a fixed rate throughout.
 *
 *   node --import tsx scripts/bench/read-scaling.ts [--pg 18|15] [--rate 20] [--seconds 8] [--warmup 3]
 *        [--rounds 3] [--readers 1,2,4] [--connections 32] [--only kinds|scaling]
 *
 * The deployment: a throwaway cluster (or a database of its own under DATABASE_URL) with the chat schema,
 * the real `slotstream writer` and `slotstream reader` processes (test/support/app-processes.ts starts them
 * as the end-to-end tests do). Seeded through the writer: 50 users (registered, each with an access token), 10
 * rooms, each user in 3 of them (15 members a room), 2,050 messages and some account data. Writes during every trial come from the wake
 * benchmark's paced writer (wake-writer.ts, a process of its own: one events row per StreamWriter
 * transaction, as the writer's /send does, in a random room, open-loop at --rate).
 *
 * The load: this process, plain node:http with keep-alive, --connections clients in closed loops (each
 * sends its next request when the last is answered) spread over the readers. Request kinds:
 * - point: /events/:id (an event of one of the client's rooms), /rooms/:id/messages (one of its rooms) or
 *   /users/:id/rooms (its own), at random: a user reads only rooms they are in;
 * - sync-now: /sync with the client's own last next_batch, timeout 0: an up-to-date token (the window holds
 *   at most the writes since its last answer);
 * - sync-50: /sync from 50 positions behind the newest position seen, timeout 0.
 * Every request bears its client's user's access token (readers check it through their token cache).
 * Part "kinds": one reader of each mode, each kind alone. Part "scaling": 1, 2 and 4 readers of one mode
 * (started for the trial, their slots dropped after), the clients mixing 40% point, 35% sync-now and 25%
 * sync-50, plus one long-polling client per user following its tokens (timeout 30 s) as a syncing app does.
 *
 * A trial warms up (caches filled, tokens taken) for --warmup seconds, then measures --seconds: answers per
 * second and their p50/p99 latency (long-polls apart), and database queries per request from the readers'
 * own counters (/metrics: slotstream_db_queries_total over slotstream_requests_total, /metrics itself left
 * out). Configurations rotate from round to round; the tables give medians over rounds. The machine's load
 * average is printed before and after: other work shows up in the figures.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { Agent, request } from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { migrateChat } from '../../app/schema.ts';
import { AppProcess, enc, WriterClient } from '../../test/support/app-processes.ts';
import { prng } from '../../test/support/prng.ts';
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
  withBenchDatabase,
  withClient,
} from './common.ts';
import {
  nowNs,
  roomId,
  type WriterGo,
  type WriterReady,
  type WriterResult,
  type WriterStart,
} from './wake-protocol.ts';

const { values: args } = parseArgs({
  options: {
    pg: { type: 'string', default: '18' },
    rate: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    readers: { type: 'string', default: '1,2,4' },
    connections: { type: 'string', default: '32' },
    only: { type: 'string' },
  },
});

const HERE = import.meta.dirname;
const USERS = Array.from({ length: 50 }, (_, i) => `@u${i}:bench`);
const ROOMS = 10;
const MESSAGES = 2_050;
const WINDOW = 50n;
const MODES = ['cached', 'baseline'] as const;
type Mode = (typeof MODES)[number];
const KINDS = ['point', 'sync-now', 'sync-50'] as const;
type Kind = (typeof KINDS)[number];
/** The scaling part's mix of closed-loop requests. */
const MIX: ReadonlyArray<[Kind, number]> = [
  ['point', 0.4],
  ['sync-now', 0.35],
  ['sync-50', 0.25],
];

/** User i's rooms: three distinct ones, so each room has 15 members. */
const roomsOf = (user: number) => [user % ROOMS, (user + 3) % ROOMS, (user + 7) % ROOMS].map(roomId);

interface Deployment {
  url: string;
  /** Event ids written by the seed, by room, for /events/:id. */
  events: Map<string, string[]>;
  /** Each user's access token. */
  tokens: Map<string, string>;
  /** The newest position seen (in any answer), for sync-50's tokens. */
  head: bigint;
}

interface Measured {
  /** Closed-loop answers per second, and their latency (ms). */
  rate: number;
  p50: number;
  p99: number;
  queriesPerRequest: number;
  /** The readers' CPU (µs) per request served, whatever the machine's other work: the cost of a read. */
  cpuPerRequest: number;
  /** Long-poll answers per second (scaling part). */
  longPolls: number;
  /** Writes per second the paced writer achieved. */
  writes: number;
}

// ---------------------------------------------------------------------------------------------------------
// HTTP: one keep-alive agent per reader, bodies read whole

interface Answer {
  status: number;
  body: string;
}

/** GET `route`, with `Authorization: Bearer <token>` when given. */
function get(agent: Agent, base: URL, route: string, token?: string, signal?: AbortSignal): Promise<Answer> {
  const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
  return new Promise((resolve, reject) => {
    const req = request(
      { host: base.hostname, port: base.port, path: route, agent, headers, signal },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function getOk(
  agent: Agent,
  base: URL,
  route: string,
  token?: string,
  signal?: AbortSignal,
): Promise<string> {
  const answer = await get(agent, base, route, token, signal);
  if (answer.status !== 200) throw new Error(`GET ${route}: ${answer.status} ${answer.body.slice(0, 300)}`);
  return answer.body;
}

/** A reader as the load sees it: its URL, a keep-alive agent of its own, and its process (for its CPU). */
interface Target {
  base: URL;
  agent: Agent;
  pid: number;
}

const target = (reader: AppProcess): Target => ({
  base: new URL(reader.url),
  agent: new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY }),
  pid: reader.pid as number,
});

/** What a reader has done so far: requests served and queries issued (/metrics itself left out), CPU. */
interface ReaderCounts {
  requests: number;
  queries: number;
  cpuSeconds: number;
}

async function readerCounts(t: Target): Promise<ReaderCounts> {
  const text = await getOk(t.agent, t.base, '/metrics');
  const counts = { requests: 0, queries: 0, cpuSeconds: procStat(t.pid)?.cpu ?? Number.NaN };
  for (const m of text.matchAll(/^slotstream_(requests|db_queries)_total\{([^}]*)\} (\d+)$/gm)) {
    if ((m[2] as string).includes('route="/metrics"')) continue;
    counts[m[1] === 'requests' ? 'requests' : 'queries'] += Number(m[3]);
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------------------
// The load

/** The token a /sync answer carries, and the position in it. */
function nextBatch(body: string, deployment: Deployment): string {
  const token = (JSON.parse(body) as { next_batch: string }).next_batch;
  const position = BigInt(token.slice(1, token.indexOf('_')));
  if (position > deployment.head) deployment.head = position;
  return token;
}

interface Client {
  target: Target;
  user: string;
  /** The rooms the user is in. */
  rooms: string[];
  /** The user's access token. */
  accessToken: string;
  /** sync-now's token: the client's last next_batch. */
  token: string;
  random: () => number;
}

/** Client number `i`'s user (one of USERS, in turn), with its rooms and access token. */
function clientOf(i: number, target: Target, deployment: Deployment, random: () => number): Client {
  const user = USERS[i % USERS.length] as string;
  const accessToken = deployment.tokens.get(user) as string;
  return { target, user, rooms: roomsOf(i % USERS.length), accessToken, token: '', random };
}

/** One request of `kind` by `client`. */
async function one(kind: Kind, client: Client, deployment: Deployment): Promise<void> {
  const { target: t, random, accessToken } = client;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const read = (route: string) => getOk(t.agent, t.base, route, accessToken);
  switch (kind) {
    case 'point': {
      const dice = random();
      const room = pick(client.rooms);
      if (dice < 1 / 3) await read(`/events/${enc(pick(deployment.events.get(room) ?? []))}`);
      else if (dice < 2 / 3) await read(`/rooms/${enc(room)}/messages`);
      else await read(`/users/${enc(client.user)}/rooms`);
      return;
    }
    case 'sync-now': {
      client.token = nextBatch(await read(`/sync?since=${client.token}`), deployment);
      return;
    }
    case 'sync-50': {
      const since = `s${deployment.head > WINDOW ? deployment.head - WINDOW : 0n}_0`;
      nextBatch(await read(`/sync?since=${since}`), deployment);
      return;
    }
  }
}

interface LoadPlan {
  targets: Target[];
  /** The closed-loop clients' kinds, drawn per request. */
  mix: ReadonlyArray<[Kind, number]>;
  longPolls: boolean;
  warmupMs: number;
  measureMs: number;
  seed: number;
}

/** Runs the closed-loop clients (and long-polls) for warm-up plus measurement; what the window measured. */
async function load(plan: LoadPlan, deployment: Deployment) {
  const connections = Math.round(positive('connections', args.connections));
  const latencies: number[] = [];
  let longPollAnswers = 0;
  const stop = new AbortController();
  setMaxListeners(USERS.length + 1, stop.signal); // one listener per long-poll in flight
  const t0 = performance.now();
  const [from, to] = [t0 + plan.warmupMs, t0 + plan.warmupMs + plan.measureMs];
  const inWindow = (start: number, end: number) => start >= from && end <= to;
  let before: ReaderCounts[] = [];
  let after: ReaderCounts[] = [];
  const counting = (async () => {
    await sleep(from - performance.now());
    before = await Promise.all(plan.targets.map(readerCounts));
    await sleep(to - performance.now());
    after = await Promise.all(plan.targets.map(readerCounts));
  })();

  const initial = async (client: Client) =>
    nextBatch(await getOk(client.target.agent, client.target.base, '/sync', client.accessToken), deployment);
  const closedLoop = async (i: number) => {
    const random = prng(plan.seed * 1000 + i);
    const client = clientOf(i, plan.targets[i % plan.targets.length] as Target, deployment, random);
    client.token = await initial(client);
    while (performance.now() < to) {
      const kind = draw(plan.mix, random());
      const start = performance.now();
      await one(kind, client, deployment);
      const end = performance.now();
      if (inWindow(start, end)) latencies.push(end - start);
    }
  };
  const longPoll = async (i: number) => {
    const client = clientOf(i, plan.targets[i % plan.targets.length] as Target, deployment, Math.random);
    let token = await initial(client);
    const { agent, base } = client.target;
    while (!stop.signal.aborted) {
      const route = `/sync?since=${token}&timeout=30000`;
      const body = await getOk(agent, base, route, client.accessToken, stop.signal).catch(() => undefined);
      if (body === undefined) return;
      token = nextBatch(body, deployment);
      const now = performance.now();
      if (now >= from && now <= to) longPollAnswers++;
    }
  };
  const polls = plan.longPolls ? USERS.map((_, i) => longPoll(i)) : [];
  await Promise.all(Array.from({ length: connections }, (_, i) => closedLoop(i)));
  await counting;
  stop.abort();
  await Promise.all(polls);
  const seconds = plan.measureMs / 1000;
  const sum = (list: ReaderCounts[], key: keyof ReaderCounts) => list.reduce((a, c) => a + c[key], 0);
  const delta = (key: keyof ReaderCounts) => sum(after, key) - sum(before, key);
  latencies.sort((a, b) => a - b);
  const quantile = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return {
    rate: latencies.length / seconds,
    p50: quantile(0.5),
    p99: quantile(0.99),
    queriesPerRequest: delta('queries') / delta('requests'),
    cpuPerRequest: (delta('cpuSeconds') * 1e6) / delta('requests'),
    longPolls: longPollAnswers / seconds,
  };
}

/** The kind whose share of the mix `dice` (in [0, 1)) falls in. */
function draw(mix: LoadPlan['mix'], dice: number): Kind {
  let rest = dice;
  for (const [kind, share] of mix) {
    rest -= share;
    if (rest < 0) return kind;
  }
  return (mix.at(-1) as [Kind, number])[0];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

// ---------------------------------------------------------------------------------------------------------
// Processes

const running = new Set<ChildProcess>();

/** A paced writer for the trial (wake-writer.ts): ready to go once this resolves. */
async function pacedWriter(url: string, seconds: number, seed: number) {
  const rate = positive('rate', args.rate);
  const proc = fork(path.join(HERE, 'wake-writer.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  running.add(proc);
  const start: WriterStart = {
    type: 'start',
    url,
    method: 'slotstream',
    rate,
    total: Math.ceil(rate * seconds),
    warmup: 0,
    rooms: ROOMS,
    connections: 2,
    seed,
    writer: 0,
    writers: 1,
  };
  proc.send(start);
  await reply<WriterReady>(proc, 'ready');
  const result = reply<WriterResult>(proc, 'result');
  const go: WriterGo = { type: 'go', t0Ns: nowNs() };
  proc.send(go);
  return {
    /** Writes per second achieved; the process has exited. */
    async finish(): Promise<number> {
      const written = await result;
      await exited(proc);
      running.delete(proc);
      const first = Math.min(...written.commitReturnedNs);
      const last = Math.max(...written.commitReturnedNs);
      return ((written.position.length - 1) * 1e9) / (last - first);
    },
  };
}

/** `count` reader processes of `mode`, each on a new slot (named as the process), caught up with the seed. */
async function startReaders(deployment: Deployment, mode: Mode, count: number, tag: string) {
  const readers = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const slot = `bench_${tag}_${mode}_${i}`;
      const argv = ['reader', '--slot', slot, '--json', '--database-url', deployment.url];
      if (mode === 'baseline') argv.push('--no-caches');
      return new AppProcess(slot, argv).start(60_000);
    }),
  );
  // Caught up with the seed before anything is measured.
  await Promise.all(
    readers.map((r) => fetch(new URL(`/wait?position=${deployment.head}&timeout=60000`, r.url))),
  );
  return readers;
}

async function stopReaders(deployment: Deployment, readers: AppProcess[]): Promise<void> {
  await Promise.all(readers.map((r) => r.stop()));
  for (const r of readers) await dropSlot(deployment.url, r.name);
}

// ---------------------------------------------------------------------------------------------------------

async function seed(writer: WriterClient): Promise<Omit<Deployment, 'url'>> {
  let head = 0n;
  const seen = (position: string) => {
    if (BigInt(position) > head) head = BigInt(position);
  };
  for (const [i, user] of USERS.entries())
    for (const room of roomsOf(i)) seen((await writer.join(room, user)).position);
  const events = new Map<string, string[]>();
  const random = prng(1);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < MESSAGES) {
        const n = next++;
        const user = Math.floor(random() * USERS.length);
        const room = roomsOf(user)[n % 3] as string;
        const sent = await writer.send(room, USERS[user] as string, { body: `message ${n}` });
        events.set(room, [...(events.get(room) ?? []), sent.event_id]);
        seen(sent.position);
      }
    }),
  );
  for (const user of USERS) seen((await writer.accountData(user, 'm.push_rules', { rules: [] })).position);
  const tokens = new Map(await Promise.all(USERS.map(async (u) => [u, await writer.token(u)] as const)));
  return { events, tokens, head };
}

async function main(): Promise<void> {
  const seconds = positive('seconds', args.seconds);
  const warmup = positive('warmup', args.warmup);
  const rounds = Math.round(positive('rounds', args.rounds));
  const readerCounts = args.readers.split(',').map((n) => Math.round(positive('readers', n)));
  const parts = args.only ? args.only.split(',') : ['kinds', 'scaling'];
  await withBenchDatabase('bench_reads', args.pg, async (url, label) => {
    await migrateChat(url);
    const writerProc = new AppProcess('writer', ['writer', '--database-url', url]);
    try {
      await writerProc.start();
      const deployment: Deployment = { url, ...(await seed(new WriterClient(() => writerProc.url))) };
      const version = await withClient(url, async (c) => (await c.query('SHOW server_version')).rows[0]);
      console.log(
        `server: PostgreSQL ${version.server_version}, ${label}; writes ${args.rate}/s; ${args.connections} ` +
          `closed-loop clients; ${warmup} s warm-up + ${seconds} s per trial, ${rounds} round(s); ${codeVersion()}`,
      );
      console.log(loadAverage());
      let trial = 0;
      const measure = async (targets: Target[], mix: LoadPlan['mix'], longPolls: boolean) => {
        trial++;
        const writes = await pacedWriter(url, warmup + seconds + 1, 7_000 + trial);
        const measured = await load(
          { targets, mix, longPolls, warmupMs: warmup * 1000, measureMs: seconds * 1000, seed: trial },
          deployment,
        );
        return { ...measured, writes: await writes.finish() };
      };

      if (parts.includes('kinds')) {
        // One reader of each mode, kept for the whole part.
        const readers = new Map<Mode, AppProcess[]>();
        try {
          for (const mode of MODES) readers.set(mode, await startReaders(deployment, mode, 1, 'kinds'));
          const targets = new Map([...readers].map(([mode, list]) => [mode, list.map(target)]));
          const configs = KINDS.flatMap((kind) => MODES.map((mode) => ({ kind, mode })));
          const results = await rotated(configs, rounds, ({ kind, mode }) =>
            measure(targets.get(mode) ?? [], [[kind, 1]], false),
          );
          printKinds(results);
        } finally {
          for (const list of readers.values()) await stopReaders(deployment, list);
        }
      }
      if (parts.includes('scaling')) {
        const configs = readerCounts.flatMap((count) => MODES.map((mode) => ({ count, mode })));
        const results = await rotated(configs, rounds, async ({ count, mode }) => {
          const readers = await startReaders(deployment, mode, count, 'scaling');
          try {
            return await measure(readers.map(target), MIX, true);
          } finally {
            await stopReaders(deployment, readers);
          }
        });
        printScaling(results, readerCounts);
      }
      console.log(loadAverage());
    } finally {
      for (const proc of [...running]) proc.kill('SIGKILL');
      await writerProc.stop();
    }
  });
}

/**
 * Every configuration once per round, in an order rotated by one each round; each configuration's
 * measurements by its key (its values joined by spaces).
 */
async function rotated<C extends Record<string, string | number>>(
  configs: C[],
  rounds: number,
  run: (config: C) => Promise<Measured>,
): Promise<Map<string, Measured[]>> {
  const results = new Map<string, Measured[]>();
  for (let round = 0; round < rounds; round++) {
    for (let c = 0; c < configs.length; c++) {
      const config = configs[(c + round) % configs.length] as C;
      const key = Object.values(config).join(' ');
      results.set(key, [...(results.get(key) ?? []), await run(config)]);
    }
  }
  return results;
}

/** The median of one figure over a configuration's rounds. */
const med = (list: Measured[] | undefined, key: keyof Measured) => median((list ?? []).map((m) => m[key]));
const fixed = (n: number, digits = 0) => (Number.isNaN(n) ? '–' : n.toFixed(digits));

/** The columns every table has: each figure's median, as [header, figure, decimals]. */
const FIGURES: ReadonlyArray<[string, keyof Measured, number]> = [
  ['reads/s', 'rate', 0],
  ['p50 ms', 'p50', 1],
  ['p99 ms', 'p99', 1],
  ['queries/read', 'queriesPerRequest', 2],
  ['reader CPU µs/read', 'cpuPerRequest', 0],
];
const figures = (list: Measured[] | undefined) =>
  FIGURES.map(([, key, digits]) => fixed(med(list, key), digits));

function printKinds(results: Map<string, Measured[]>): void {
  console.log('\none reader, one kind of request at a time (medians):');
  const rows = KINDS.flatMap((kind) =>
    MODES.map((mode) => {
      const list = results.get(`${kind} ${mode}`);
      return [kind, mode, ...figures(list), fixed(med(list, 'writes'))];
    }),
  );
  table(['request', 'reader', ...FIGURES.map(([header]) => header), 'writes/s'], rows, 2);
  const ratio = (key: keyof Measured, a: string, b: string) =>
    fixed(med(results.get(a), key) / med(results.get(b), key), 2);
  console.log(
    `sync-now / point reads, cached: reads/s ${ratio('rate', 'sync-now cached', 'point cached')}×, CPU/read ` +
      `${ratio('cpuPerRequest', 'sync-now cached', 'point cached')}×; sync-50 cached / baseline: reads/s ` +
      `${ratio('rate', 'sync-50 cached', 'sync-50 baseline')}×; point reads cached / baseline: reads/s ` +
      `${ratio('rate', 'point cached', 'point baseline')}×`,
  );
}

function printScaling(results: Map<string, Measured[]>, counts: number[]): void {
  console.log(
    '\nthe mix (40% point, 35% sync-now, 25% sync-50) plus a long-polling client per user (medians):',
  );
  const rows = counts.flatMap((count) =>
    MODES.map((mode) => {
      const list = results.get(`${count} ${mode}`);
      return [
        String(count),
        mode,
        ...figures(list),
        fixed(med(list, 'longPolls')),
        fixed(med(list, 'writes')),
      ];
    }),
  );
  table(
    ['readers', 'reader', ...FIGURES.map(([header]) => header), 'long-poll answers/s', 'writes/s'],
    rows,
    2,
  );
  for (const count of counts) {
    const [c, b] = MODES.map((mode) => results.get(`${count} ${mode}`));
    console.log(
      `${count} reader(s): cached / baseline reads/s ${fixed(med(c, 'rate') / med(b, 'rate'), 2)}×, ` +
        `p99 ${fixed(med(c, 'p99'), 1)} vs ${fixed(med(b, 'p99'), 1)} ms`,
    );
  }
}

await main();
