/**
 * A test process ended by a signal still runs its `exit` handlers, which end what it started: servers
 * (own-clusters.ts, standby.ts) and commands (cli.ts). Node dies of SIGINT or SIGTERM without running them,
 * and that is how an interrupted run ends its test processes (scripts/test/run.ts signals their group), so
 * here the signal becomes an exit, with the status a shell gives a process interrupted by one.
 */
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
