/**
 * What a run on the server DATABASE_URL names checks, since that server is someone's and outlives the run:
 * before, that it and its role can do what the suite does (or the run says what is missing instead of
 * failing test by test); after, that the suite left nothing of its own there (test/support/own-names.ts).
 */
import { connectSql } from '../../src/replication/connect.ts';
import { OWN_NAME_PATTERN } from '../../test/support/own-names.ts';

async function rows<R>(url: string, sql: string): Promise<R[]> {
  const client = await connectSql({ connectionString: url });
  try {
    return (await client.query(sql)).rows as R[];
  } finally {
    await client.end();
  }
}

/**
 * What the server or the role lacks for the suite, or an empty list. It makes databases (CREATEDB) and
 * login roles, some with REPLICATION (CREATEROLE, and REPLICATION itself), streams from slots
 * (REPLICATION, wal_level = logical), and watches its walsenders' positions and waits in
 * pg_stat_replication, which shows them only to pg_read_all_stats; a superuser has all of it.
 */
export async function missingForSuite(url: string): Promise<string[]> {
  const [role] = await rows<{
    rolname: string;
    rolsuper: boolean;
    rolcreatedb: boolean;
    rolcreaterole: boolean;
    rolreplication: boolean;
    read_all_stats: boolean;
    wal_level: string;
  }>(
    url,
    `SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication,
            pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats,
            current_setting('wal_level') AS wal_level
       FROM pg_roles WHERE rolname = current_user`,
  );
  if (role === undefined) return ['the current role is not in pg_roles'];
  const missing: string[] = [];
  if (role.wal_level !== 'logical') missing.push(`wal_level = logical (it is ${role.wal_level})`);
  if (!role.rolsuper) {
    const lacks = [
      role.rolcreatedb ? '' : 'CREATEDB',
      role.rolcreaterole ? '' : 'CREATEROLE',
      role.rolreplication ? '' : 'REPLICATION',
    ].filter(Boolean);
    if (lacks.length > 0) missing.push(`ALTER ROLE "${role.rolname}" ${lacks.join(' ')} (or a superuser)`);
    if (!role.read_all_stats) missing.push(`GRANT pg_read_all_stats TO "${role.rolname}" (or a superuser)`);
  }
  return missing;
}

/** The suite's own databases, roles and slots on the server now, one line each. */
export async function ownObjects(url: string): Promise<Set<string>> {
  const found = await rows<{ what: string }>(
    url,
    `SELECT 'database ' || datname AS what FROM pg_database WHERE datname ~ '${OWN_NAME_PATTERN}'
     UNION ALL
     SELECT 'role ' || rolname FROM pg_roles WHERE rolname ~ '${OWN_NAME_PATTERN}'
     UNION ALL
     SELECT format('slot %s (%s)', slot_name, coalesce('database ' || database, 'physical'))
       FROM pg_replication_slots WHERE slot_name ~ '${OWN_NAME_PATTERN}' OR database ~ '${OWN_NAME_PATTERN}'`,
  );
  return new Set(found.map((r) => r.what));
}
