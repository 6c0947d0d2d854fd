/// <reference types="node" preserve="true" />
// Published declarations use Node's types (Buffer, NodeJS.*); TypeScript 6+ loads @types/node only if told.
/**
 * `slotstream/cli`: the project config (`slotstream.config.js`) and what a command it adds is made of.
 *
 * ```js
 * // slotstream.config.js
 * import { defineConfig } from 'slotstream/cli';
 * import { todos } from './streams.js';
 * export default defineConfig({
 *   streams: [todos],                               // the publication covers their tables
 *   migrations: { directory: './migrations' },      // run by `slotstream migrate` after slotstream's own
 * });
 * ```
 */
export { type Command, UsageError } from './command.ts';
export {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  type Connection,
  chooseConnection,
  type ResolveOptions,
  redact,
  resolveConnection,
} from './connection.ts';
export { embeddedStandbyDataDir, startEmbeddedStandby } from './embedded-standby.ts';
export {
  CONFIG_FILES,
  ConfigError,
  defineConfig,
  type LoadedConfig,
  loadConfig,
  type SlotstreamConfig,
} from './project-config.ts';
export { SLOT_OPTIONS, SLOT_USAGE, slotAndPublication } from './slot-options.ts';
