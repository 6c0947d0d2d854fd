import type { ChildProcess } from 'node:child_process';

/** One process `slotstream start` keeps running. */
export interface Supervised {
  readonly name: string;
  /** Starts it (again): a new process each call. */
  readonly spawn: () => ChildProcess;
}

/** The first restart waits this long; each crash in a row doubles it, up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** A process that ran this long before it died is not crash-looping: its next restart waits the least. */
const STABLE_MS = 60_000;

/**
 * Keeps the processes of a deployment running: one that exits on its own (a crash, kill -9, an error it
 * could not recover from) is started again after a backoff, doubling while it keeps dying young, and the
 * others go on meanwhile: a reader that crashes does not take the writer, the other readers or the database
 * with it. Every change is reported through `report` (for the status lines). `stop` ends them in the order
 * asked and says how each ended.
 */
export class Supervisor {
  readonly #children = new Map<string, Child>();
  readonly #report: (name: string, line: string) => void;
  #stopping = false;

  constructor(processes: readonly Supervised[], report: (name: string, line: string) => void) {
    this.#report = report;
    for (const p of processes) {
      const child = new Child(p, this);
      this.#children.set(p.name, child);
      child.start();
    }
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** @internal A child's news. */
  report(name: string, line: string): void {
    this.#report(name, line);
  }

  /** Restarts done so far, per process. */
  get restarts(): Map<string, number> {
    return new Map([...this.#children].map(([name, c]) => [name, c.restarts]));
  }

  /**
   * Stops every process, group by group (each group's processes together, SIGTERM), no more restarts.
   * Resolves with how each one ended: 'ok' (exit code 0, or our SIGTERM before it could handle it) or
   * what else happened.
   */
  async stop(groups: readonly (readonly string[])[]): Promise<Map<string, string>> {
    this.#stopping = true;
    const outcomes = new Map<string, string>();
    for (const group of groups)
      await Promise.all(
        group.map(async (name) => {
          const child = this.#children.get(name);
          if (child) outcomes.set(name, await child.stop());
        }),
      );
    return outcomes;
  }
}

class Child {
  readonly #spec: Supervised;
  readonly #supervisor: Supervisor;
  #process: ChildProcess | undefined;
  #exited: Promise<string> = Promise.resolve('ok');
  #timer: NodeJS.Timeout | undefined;
  #backoffMs = FIRST_BACKOFF_MS;
  restarts = 0;

  constructor(spec: Supervised, supervisor: Supervisor) {
    this.#spec = spec;
    this.#supervisor = supervisor;
  }

  start(): void {
    const started = performance.now();
    const child = this.#spec.spawn();
    this.#process = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const stopping = this.#supervisor.stopping;
        resolve(code === 0 || (stopping && signal === 'SIGTERM') ? 'ok' : `exited with ${code ?? signal}`);
        if (stopping) return;
        if (performance.now() - started >= STABLE_MS) this.#backoffMs = FIRST_BACKOFF_MS;
        const wait = this.#backoffMs;
        this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
        this.#supervisor.report(
          this.#spec.name,
          `${this.#spec.name}  exited with ${code ?? signal}: restarting in ${(wait / 1000).toFixed(1)} s` +
            ` (${this.restarts} restart${this.restarts === 1 ? '' : 's'} so far)`,
        );
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.restarts++;
          this.start();
        }, wait);
      });
    });
  }

  async stop(): Promise<string> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      return 'ok';
    }
    this.#process?.kill('SIGTERM');
    return this.#exited;
  }
}
