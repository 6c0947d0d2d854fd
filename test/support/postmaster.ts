/** Ending a PostgreSQL server by its data directory, for clean-ups that cannot count on pg_ctl. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';

/**
 * Sends SIGQUIT (immediate shutdown) to the postmaster of `dataDir`, if one runs: for `exit` handlers,
 * which can still send a signal but not wait for pg_ctl.
 */
export function quitPostmaster(dataDir: string): void {
  const pid = postmasterPid(dataDir);
  try {
    if (pid !== undefined) process.kill(pid, 'SIGQUIT');
  } catch {
    // No such process: nothing runs there.
  }
}

/** SIGQUIT to the postmaster of `dataDir`, if one runs, then wait until it is gone. */
export async function quitAndWait(dataDir: string): Promise<void> {
  const pid = postmasterPid(dataDir);
  if (pid === undefined) return;
  quitPostmaster(dataDir);
  while (isAlive(pid)) await pause(50);
}

/** The PID in `dataDir`'s postmaster.pid, if the file is there. */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Ends every postmaster whose data directory is under `dir` (SIGQUIT, waited for) and returns those
 * directories: for a run's clean-up, which finds the servers its test files started without being told.
 */
export async function quitAllUnder(dir: string): Promise<string[]> {
  let files: string[];
  try {
    files = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch {
    return []; // gone already
  }
  const dataDirs = files
    .filter((f) => path.basename(f) === 'postmaster.pid')
    .map((f) => path.join(dir, path.dirname(f)))
    .filter((d) => {
      const pid = postmasterPid(d);
      return pid !== undefined && isAlive(pid);
    });
  for (const dataDir of dataDirs) await quitAndWait(dataDir);
  return dataDirs;
}
