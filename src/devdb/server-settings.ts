/**
 * Settings every local cluster starts with: logical decoding on, and room for one slot and walsender per
 * reader plus the tests' and tools' own. Passed on the postgres command line so they win over the
 * generated postgresql.conf.
 */
export const LOCAL_SERVER_SETTINGS: Readonly<Record<string, string>> = {
  wal_level: 'logical',
  max_replication_slots: '64',
  max_wal_senders: '64',
  max_connections: '200',
  listen_addresses: '127.0.0.1',
  unix_socket_directories: '',
};
