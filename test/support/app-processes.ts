/**
 * The reference application as a user deploys it, for end-to-end tests: `node bin/slotstream.js writer|reader`
 * child processes on free ports (`--port 0`; each prints the URL it bound), against a fresh migrated
 * database of the test file's own. Every process spawned here is SIGKILLed after the file's tests, before
 * the database (and its slots) is dropped, even when a test failed; and on exit, should the run die first.
 *
 * Also the few HTTP helpers the e2e tests share: JSON in and out with `fetch`, as any client would, with the
 * access tokens of users registered on the writer (Accounts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { migratedDatabase } from './runtime.ts';
import { waitFor } from './wait-for.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
/** Output kept per process for diagnostics: the last this many characters. */
const OUTPUT_TAIL = 200_000;

/** Every child still running, across groups: killed synchronously if the test process exits first. */
const living = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of living) child.kill('SIGKILL');
});

export interface ReaderOptions {
  /** Passed as `--writer-url`: the reader asks the writer to delete delivered to-device messages. */
  writerUrl?: string;
  /** Passed as `--push-url`: the pusher role. */
  pushUrl?: string;
  /** The server it reads from (`--database-url`), when not the deployment's: a hot standby of it. */
  databaseUrl?: string;
  /** Passed as `--primary-url`: the primary, for a reader on a hot standby. */
  primaryUrl?: string;
  /** `--no-caches`: the baseline reader, which queries PostgreSQL on every request. */
  noCaches?: boolean;
  /** `--headers-timeout MS` (and a request timeout as short): how long a client may take to send headers. */
  headersTimeoutMs?: number;
  /** `--catch-up-timeout MS`: how long a /sync whose since is ahead of the reader waits before its 503. */
  catchUpTimeoutMs?: number;
}

export interface WriterOptions {
  /** `--registration-token`: registration closed, open only to this token. */
  registrationToken?: string;
  /** As ReaderOptions.headersTimeoutMs. */
  headersTimeoutMs?: number;
}

/** `--headers-timeout MS --request-timeout MS`, or nothing for the defaults. */
function timeoutArgs(headersTimeoutMs: number | undefined): string[] {
  if (headersTimeoutMs === undefined) return [];
  return ['--headers-timeout', String(headersTimeoutMs), '--request-timeout', String(headersTimeoutMs)];
}

/** One `slotstream` process. `start()` spawns it and resolves with its URL once it listens. */
export class AppProcess {
  readonly name: string;
  /** Arguments without `--port`. */
  readonly #args: readonly string[];
  /** The port it bound at its first start; restarts ask for the same one. */
  port = 0;
  url = '';
  /** stdout and stderr interleaved, bounded, across restarts. */
  #output = '';
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);
  starts = 0;

  constructor(name: string, args: readonly string[]) {
    this.name = name;
    this.#args = args;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The process's recent output, for assertion messages. */
  output(chars = 4000): string {
    return this.#output.slice(-chars);
  }

  #append(text: string): void {
    this.#output += text;
    if (this.#output.length > OUTPUT_TAIL * 2) this.#output = this.#output.slice(-OUTPUT_TAIL);
  }

  /** Spawns the process (on the port of its first start, if it had one) and waits until it listens. */
  async start(timeoutMs = 30_000): Promise<this> {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    const child = spawn(
      process.execPath,
      ['bin/slotstream.js', ...this.#args, '--port', String(this.port)],
      // DATABASE_URL cleared: only the explicit --database-url counts. Logs at info (warnings show retries).
      { cwd: root, env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'info' }, stdio: 'pipe' },
    );
    this.#child = child;
    this.starts++;
    living.add(child);
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => this.#append(c.toString()));
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
      this.#append(c.toString());
    });
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        living.delete(child);
        this.#append(`\n[${this.name} exited: ${signal ?? code}]\n`);
        resolve(code);
      });
      child.once('error', (error) => {
        living.delete(child);
        this.#append(`\n[${this.name} failed to spawn: ${error.message}]\n`);
        resolve(null);
      });
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Both the reader (plain or --json) and the writer say `… listening on http://host:port` on stderr.
      const match = /listening on (http:\/\/[^\s"]+)/.exec(stderr);
      if (match?.[1]) {
        this.url = match[1];
        this.port = Number(new URL(this.url).port);
        return this;
      }
      if (!this.running)
        throw new Error(`${this.name} exited before listening; its output:\n${this.output()}`);
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`${this.name} did not listen within ${timeoutMs} ms; its output:\n${this.output()}`);
      }
      await sleep(50);
    }
  }

  /** Sends `signal` (SIGKILL by default) and resolves with the exit code once the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.running) this.#child?.kill(signal);
    return this.#exited;
  }

  /** SIGTERM, then SIGKILL if it has not stopped within `graceMs`; resolves with the exit code. */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (!this.running) return this.#exited;
    this.#child?.kill('SIGTERM');
    const timer = setTimeout(() => this.#child?.kill('SIGKILL'), graceMs);
    try {
      return await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A test file's deployment: its database (fresh, migrated) and the processes started on it. Create it at
 * the top level of the file, before anything else that registers `after` hooks on the database: the kill
 * hook registered here runs before the database's drop hook (node:test runs `after` hooks in order).
 */
export class AppDeployment {
  readonly databaseUrl: string;
  readonly processes: AppProcess[] = [];
  readonly #suffix = randomBytes(3).toString('hex');

  private constructor(databaseUrl: string) {
    this.databaseUrl = databaseUrl;
  }

  static async create(label: string): Promise<AppDeployment> {
    let deployment: AppDeployment | undefined;
    // Registered before migratedDatabase registers the drop: processes die first, then their slots go.
    after(() => deployment?.killAll());
    deployment = new AppDeployment(await migratedDatabase(label));
    return deployment;
  }

  /** A slot name of this file's own (slots are global per cluster). */
  slot(name: string): string {
    return `${name}_${this.#suffix}`;
  }

  /** `slotstream writer --port 0 --database-url URL [--registration-token T] [--headers-timeout MS …]`, started. */
  writer(name = 'writer', options: WriterOptions = {}): Promise<AppProcess> {
    const args = ['writer', '--database-url', this.databaseUrl, ...timeoutArgs(options.headersTimeoutMs)];
    if (options.registrationToken !== undefined) args.push('--registration-token', options.registrationToken);
    return this.#start(new AppProcess(name, args));
  }

  /**
   * `slotstream reader --slot SLOT --json [--writer-url URL] [--push-url URL] [--primary-url URL]
   * [--no-caches] [--catch-up-timeout MS] --port 0 …`, started.
   */
  reader(slot: string, options: ReaderOptions = {}): Promise<AppProcess> {
    const database = options.databaseUrl ?? this.databaseUrl;
    const args = ['reader', '--slot', slot, '--json', '--database-url', database];
    if (options.writerUrl !== undefined) args.push('--writer-url', options.writerUrl);
    if (options.pushUrl !== undefined) args.push('--push-url', options.pushUrl);
    if (options.primaryUrl !== undefined) args.push('--primary-url', options.primaryUrl);
    if (options.noCaches) args.push('--no-caches');
    if (options.catchUpTimeoutMs !== undefined)
      args.push('--catch-up-timeout', String(options.catchUpTimeoutMs));
    args.push(...timeoutArgs(options.headersTimeoutMs));
    return this.#start(new AppProcess(slot, args));
  }

  async #start(proc: AppProcess): Promise<AppProcess> {
    this.processes.push(proc);
    return proc.start();
  }

  /** SIGKILL to every process still running; resolves once all are gone. */
  async killAll(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.kill('SIGKILL')));
  }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP helpers

export type Json = Record<string, unknown>;

export interface Answer {
  status: number;
  body: Json;
  headers: Headers;
  ms: number;
}

/**
 * A request with a JSON body (when given) and `Authorization: Bearer <token>` (when given); the answer's body
 * parsed as JSON ({} when empty).
 */
export async function call(
  base: string,
  method: string,
  route: string,
  body?: unknown,
  token?: string,
): Promise<Answer> {
  const started = performance.now();
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(new URL(route, base), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Json;
  try {
    parsed = text === '' ? {} : (JSON.parse(text) as Json);
  } catch {
    throw new Error(`${method} ${route}: ${res.status} with a body that is not JSON: ${text.slice(0, 500)}`);
  }
  return { status: res.status, body: parsed, headers: res.headers, ms: performance.now() - started };
}

/** `call` that must answer 200; the body. */
export async function ok(
  base: string,
  method: string,
  route: string,
  body?: unknown,
  token?: string,
): Promise<Json> {
  const answer = await call(base, method, route, body, token);
  if (answer.status !== 200)
    throw new Error(`${method} ${new URL(route, base)}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

export const enc = encodeURIComponent;

export { within } from './wait-for.ts';

/**
 * The value of the one sample of metric `name` on a process's `/metrics` (every process labels its own; the
 * metric must have no other labels). What a process counts is how a test sees what it is doing without timing
 * it: clients waiting, wakes, timers left.
 */
export async function metric(base: string, name: string): Promise<number> {
  const res = await fetch(new URL('/metrics', base));
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${base}/metrics: ${res.status} ${text.slice(0, 500)}`);
  const samples = text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
  if (samples.length !== 1)
    throw new Error(`${base}/metrics has ${samples.length} samples of ${name}, not one`);
  return Number((samples[0] as string).split(' ').at(-1));
}

/** Waits (bounded, failing loudly) until metric `name` of the process at `base` is `expected`. */
export async function untilMetric(base: string, name: string, expected: number, what: string): Promise<void> {
  let last: number | undefined;
  try {
    await waitFor(
      what,
      async () => {
        last = await metric(base, name);
        return last === expected;
      },
      30_000,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message} (${name} is ${last}, not ${expected})`);
  }
}

/** A query string from the defined values. */
export function qs(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, String(v));
  return search.toString();
}

export interface Registered {
  user_id: string;
  access_token: string;
  position: string;
}

/**
 * Users registered on a writer and their access tokens. `token(user)` registers the user the first time it is
 * asked for them (once, however many ask at once), so a test names users and gets their tokens.
 */
export class Accounts {
  readonly #tokens = new Map<string, Promise<string>>();

  /** `registrationToken`: the writer's, when it has closed registration. */
  constructor(
    readonly writerUrl: () => string,
    readonly registrationToken?: string,
  ) {}

  /** `POST /register` for `user`, which must answer 200; its token is then `token(user)`'s. */
  async register(user: string): Promise<Registered> {
    const body = await ok(this.writerUrl(), 'POST', '/register', { user_id: user }, this.registrationToken);
    const registered = body as unknown as Registered;
    this.#tokens.set(user, Promise.resolve(registered.access_token));
    return registered;
  }

  /** The user's access token, registering them first if need be. */
  token(user: string): Promise<string> {
    let token = this.#tokens.get(user);
    if (token === undefined) {
      token = this.register(user).then((r) => r.access_token);
      this.#tokens.set(user, token);
      token.catch(() => this.#tokens.delete(user)); // a later call tries again
    }
    return token;
  }
}

/** The writer's API, as docs/http-api.md lists it, each call as the user it names (registered on first use). */
export class WriterClient {
  readonly accounts: Accounts;

  constructor(
    readonly url: () => string,
    accounts?: Accounts,
  ) {
    this.accounts = accounts ?? new Accounts(url);
  }

  /** The user's access token (registering them on first use). */
  token(user: string): Promise<string> {
    return this.accounts.token(user);
  }

  /** `ok` on the writer as `user`. */
  async #as(user: string, method: string, route: string, body?: unknown): Promise<Json> {
    return ok(this.url(), method, route, body, await this.token(user));
  }

  join(room: string, user: string) {
    return this.#as(user, 'POST', `/rooms/${enc(room)}/join`, { user_id: user }) as Promise<{
      event_id: string;
      position: string;
    }>;
  }

  leave(room: string, user: string) {
    return this.#as(user, 'POST', `/rooms/${enc(room)}/leave`, { user_id: user }) as Promise<{
      event_id: string;
      position: string;
    }>;
  }

  send(room: string, sender: string, content: Json, type = 'm.room.message') {
    return this.#as(sender, 'POST', `/rooms/${enc(room)}/send`, { sender, type, content }) as Promise<{
      event_id: string;
      stream_ordering: string;
      position: string;
    }>;
  }

  receipt(room: string, user: string, eventId: string) {
    return this.#as(user, 'POST', `/rooms/${enc(room)}/receipt`, {
      user_id: user,
      event_id: eventId,
    }) as Promise<{ position: string }>;
  }

  typing(room: string, user: string, typing: boolean, timeoutMs?: number) {
    return this.#as(user, 'PUT', `/rooms/${enc(room)}/typing/${enc(user)}`, {
      typing,
      ...(timeoutMs === undefined ? {} : { timeout_ms: timeoutMs }),
    });
  }

  accountData(user: string, type: string, content: Json) {
    return this.#as(user, 'PUT', `/users/${enc(user)}/account_data/${enc(type)}`, content) as Promise<{
      position: string;
    }>;
  }

  toDevice(user: string, deviceId: string, type: string, content: Json) {
    return this.#as(user, 'POST', `/users/${enc(user)}/to_device`, {
      device_id: deviceId,
      type,
      content,
    }) as Promise<{ position: string }>;
  }

  /** Revokes the user's token; the logout's position. */
  logout(user: string) {
    return this.#as(user, 'POST', '/logout') as Promise<{ position: string }>;
  }
}
