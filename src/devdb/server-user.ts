import { execFile } from 'node:child_process';
import { chmod, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** As root, the `postgres` account the server runs as (created if missing); otherwise undefined. */
export async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const id = async () => {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
  };
  try {
    return await id();
  } catch {
    await run('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return await id();
  }
}

/**
 * As root the server runs as `postgres`, which must be able to reach its binaries and data directory: a
 * checkout in a private directory (mktemp -d, /root) would stop initdb with "Permission denied". Adds the
 * search bit for others (o+x: enter, not list or read) to each directory on the way that lacks it, and
 * says so.
 */
export async function letOthersThrough(dir: string): Promise<void> {
  for (let d = dir; ; d = path.dirname(d)) {
    const { mode } = await stat(d);
    if ((mode & 0o001) === 0) {
      await chmod(d, (mode & 0o7777) | 0o001);
      console.error(`slotstream: chmod o+x ${d}, so the postgres user can reach the server's files`);
    }
    if (path.dirname(d) === d) return;
  }
}
