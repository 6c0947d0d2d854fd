/**
 * A StreamReader with the chat caches in a process of its own (runtime-child.ts), for tests that measure
 * the reader's memory: the child's peak RSS is the reader's alone, not the test runner's or the writer's.
 * Requests go over IPC and are answered in order of completion; the child is killed after the file's tests
 * if a test did not close it.
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { after } from 'node:test';
import type { SubscriptionStatus } from '../../src/replication/events.ts';
import type { ChildMessage, ChildRequest, ChildStats } from './runtime-child.ts';

export type { ChildStats } from './runtime-child.ts';

type Distribute<T> = T extends unknown ? Omit<T, 'cmd'> : never;
type Args<C extends ChildRequest['cmd']> = Distribute<Extract<ChildRequest, { cmd: C }>>;

export class ReaderProcess {
  readonly child: ChildProcess;
  /** The reader's 'connected' status: its slot, start LSN and the pgoutput protocol it speaks. */
  status: SubscriptionStatus | undefined;
  readonly #pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  readonly #waiters = new Map<string, (result: string) => void>();
  readonly #exited: Promise<number | null>;
  #nextId = 1;
  #failure: Error | undefined;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.on('message', (message: ChildMessage) => this.#receive(message));
    child.once('exit', (code, signal) => {
      this.#fail(new Error(`the reader process exited (code ${code}, signal ${signal})`));
    });
  }

  /**
   * Forks the reader and resolves once it has started on `slot` (created if need be). With `logFile`, the
   * child logs the event rows it is handed and its position's moves there (runtime-child.ts). `nodeOptions`
   * go to the child's node before anything else.
   */
  static async start(
    url: string,
    slot: string,
    logFile?: string,
    nodeOptions: readonly string[] = [],
  ): Promise<ReaderProcess> {
    const args = logFile === undefined ? [url, slot] : [url, slot, logFile];
    const child = fork(path.join(import.meta.dirname, 'runtime-child.ts'), args, {
      execArgv: [...nodeOptions, '--import', 'tsx'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const proc = new ReaderProcess(child);
    after(() => proc.kill());
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) =>
        reject(new Error(`the reader process exited before it started (${code})`)),
      );
      const onMessage = (message: ChildMessage) => {
        if (message.type !== 'ready') return;
        child.off('message', onMessage);
        proc.status = message.status;
        resolve();
      };
      child.on('message', onMessage);
    });
    return proc;
  }

  /** Fills the child's caches (getOrLoad); resolves with `registry.stats` afterwards. */
  populate(args: Args<'populate'>): Promise<ChildStats['caches']> {
    return this.#request({ cmd: 'populate', ...args }) as Promise<ChildStats['caches']>;
  }

  /**
   * Registers a waiter in the child on `keys`, with the reader's current token; resolves once it is
   * registered, with its outcome to come ('updated', 'timeout', 'resync').
   */
  async wait(keys: string[], timeoutMs: number): Promise<{ result: Promise<string> }> {
    const waiter = `w${this.#nextId++}`;
    const result = new Promise<string>((resolve) => this.#waiters.set(waiter, resolve));
    await this.#request({ cmd: 'wait', waiter, keys, timeoutMs });
    return { result };
  }

  /** Resolves with the child's stats once its reader has applied `position`. */
  waitForPosition(position: bigint, timeoutMs: number): Promise<ChildStats> {
    return this.#request({ cmd: 'waitForPosition', position, timeoutMs }) as Promise<ChildStats>;
  }

  stats(): Promise<ChildStats> {
    return this.#request({ cmd: 'stats' }) as Promise<ChildStats>;
  }

  /** Closes the reader (its last acknowledgement goes out) and ends the process; its final stats. */
  async close(): Promise<ChildStats> {
    const stats = (await this.#request({ cmd: 'close' })) as ChildStats;
    await this.#exited;
    return stats;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  #request(request: ChildRequest): Promise<unknown> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.child.send({ id, ...request });
    });
  }

  #receive(message: ChildMessage): void {
    if (message.type === 'reply') {
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error !== undefined) pending?.reject(new Error(`reader process: ${message.error}`));
      else pending?.resolve(message.value);
    } else if (message.type === 'waited') {
      this.#waiters.get(message.waiter)?.(message.result);
      this.#waiters.delete(message.waiter);
    } else if (message.type === 'failed') {
      this.#fail(new Error(`the reader stopped: ${message.error}`));
    }
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const { reject } of this.#pending.values()) reject(this.#failure);
    this.#pending.clear();
  }
}
