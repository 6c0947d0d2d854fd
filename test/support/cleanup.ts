/**
 * A test file's clean-up of what it made on the server, in a fixed order, whatever fails on the way: first
 * whatever still uses a database (readers, subscriptions, pools), newest first; then the databases with
 * their slots; then the roles, which belong to the whole server and may hold privileges in those databases.
 *
 * One `after` hook does it all because node:test runs a file's `after` hooks in the order they were
 * registered and stops at the first that throws: a reader started at the top level of a file registers
 * its hook after its database's, so it would still run (and recreate its slot) while the database is
 * dropped, and one failed hook would leave every later one's database, slot or role behind. Here every
 * step runs, and the failures are reported together at the end.
 *
 * The hook is registered by the first database a file makes (`freshDatabase`, at the top level of the
 * file): hooks registered before it (standbys, app processes) still run before it, as they expect.
 */
import { after } from 'node:test';

type Step = () => unknown;

const steps = { stop: new Set<Step>(), database: [] as Step[], role: [] as Step[] };
let hooked = false;

/** Registers the file's clean-up hook; call from the top level of the file (see above). */
export function cleanUpAfterFile(): void {
  if (hooked) return;
  hooked = true;
  after(async () => {
    const failures: unknown[] = [];
    const run = async (step: Step) => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    };
    for (const stop of [...steps.stop].reverse()) await run(stop);
    for (const drop of steps.database) await run(drop);
    for (const drop of steps.role) await run(drop);
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, `${failures.length} clean-up steps failed`);
  });
}

/**
 * Something that uses a database, stopped before any database is dropped. Returns the stop, run at most
 * once, for the caller to run earlier (a test's own `after`): then it is done and off the list.
 */
export function stopBeforeDrop(stop: Step): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = () => {
    steps.stop.delete(once);
    done ??= (async () => {
      await stop();
    })();
    return done;
  };
  steps.stop.add(once);
  return once;
}

/** A database (and its slots) to drop once everything using it is stopped. */
export function dropAfterStops(drop: Step): void {
  steps.database.push(drop);
}

/** A role to drop once the databases are gone (its privileges in them with them). */
export function dropRoleLast(drop: Step): void {
  steps.role.push(drop);
}
