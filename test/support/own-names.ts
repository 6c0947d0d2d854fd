/**
 * Names of what test files make on a server (databases, roles, slots outside a database): `t_<label>_<6 hex
 * digits>`, new each run, so files and runs sharing a server never meet each other's, and a run can tell
 * what it left behind (scripts/test/shared-server.ts).
 */
import { randomBytes } from 'node:crypto';

/** A new name for `label` (anything not a lowercase letter, digit or `_` becomes `_`). */
export function ownName(label: string): string {
  return `t_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(3).toString('hex')}`;
}

/** What every such name starts with, as a PostgreSQL regular expression (`name ~ OWN_NAME_PATTERN`). */
export const OWN_NAME_PATTERN = '^t_[a-z0-9_]+_[0-9a-f]{6}';
