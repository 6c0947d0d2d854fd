/** The real `slotstream` command in a child process, as a user runs it. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import { waitFor } from './replication.ts';

const root = path.resolve(import.meta.dirname, '..', '..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Where a command runs: the repository by default (its slotstream.config.ts applies); another directory
 * gets the repository's config through SLOTSTREAM_CONFIG, and an embedded cluster of its own. There, tsx
 * is pointed at the repository's tsconfig too: its paths are what map `slotstream` to the sources (found
 * from the working directory, the package would resolve to its compiled dist/ instead).
 */
export interface CliOptions {
  cwd?: string;
}

/** Commands still running: killed if the test process exits first, so none outlives a failed file. */
const alive = new Set<ChildProcessWithoutNullStreams>();
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

/** Spawns `slotstream ARGS`. DATABASE_URL is cleared so only an explicit --database-url counts. */
export function spawnCli(args: readonly string[], options: CliOptions = {}): ChildProcessWithoutNullStreams {
  const child = spawnCommand(args, options);
  alive.add(child);
  child.once('exit', () => alive.delete(child));
  return child;
}

function spawnCommand(args: readonly string[], options: CliOptions): ChildProcessWithoutNullStreams {
  const cwd = options.cwd ?? root;
  return spawn(process.execPath, [path.join(root, 'bin', 'slotstream.js'), ...args], {
    cwd,
    env: {
      ...process.env,
      DATABASE_URL: '',
      ...(cwd === root
        ? {}
        : {
            SLOTSTREAM_CONFIG: path.join(root, 'slotstream.config.ts'),
            TSX_TSCONFIG_PATH: path.join(root, 'tsconfig.json'),
          }),
    },
  });
}

/** Runs `slotstream ARGS` to completion. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running command (`tail`): its output so far, waits on it, and its end. */
export class RunningCli {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(args: readonly string[], options: CliOptions = {}) {
    this.child = spawnCli(args, options);
    this.child.stdout.on('data', (c: Buffer) => {
      this.stdout += c.toString();
    });
    this.child.stderr.on('data', (c: Buffer) => {
      this.stderr += c.toString();
    });
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** Complete stdout lines so far. */
  get lines(): string[] {
    return this.stdout.split('\n').slice(0, -1);
  }

  async waitForLines(count: number, timeoutMs = 30_000): Promise<string[]> {
    return waitFor(
      `${count} lines from slotstream (stderr: ${this.stderr.trim()})`,
      async () => this.lines.length >= count && this.lines,
      timeoutMs,
    );
  }

  async waitForStderr(pattern: RegExp, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      `stderr to match ${pattern} (stderr: ${this.stderr.trim()})`,
      async () => pattern.test(this.stderr),
      timeoutMs,
    );
  }

  /** Sends `signal` and resolves to the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}
