import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import type { ServiceSchema } from '../migrations/migrator.ts';
import { SlotstreamError } from '../replication/errors.ts';
import { DEFAULT_PUBLICATION } from '../replication/names.ts';
import type { Command } from './command.ts';

/**
 * A project's `slotstream.config.js`: what the command line needs to know about the service it runs in —
 * its streams (the publication is made to cover their tables; doctor checks them), its own knex
 * migrations (`slotstream migrate` runs them after slotstream's), and commands of its own. Like a
 * knexfile, it is found in the working directory; SLOTSTREAM_CONFIG names another file.
 *
 * ```js
 * // slotstream.config.js
 * import { defineConfig } from 'slotstream/cli';
 * import { todos } from './streams.js';
 * export default defineConfig({ streams: [todos], migrations: { directory: './migrations' } });
 * ```
 */
export interface SlotstreamConfig extends ServiceSchema {
  /** Commands added to `slotstream`'s own (a reference deployment adds `start`, `reader`, `writer`). */
  commands?: readonly Command[];
}

/**
 * Identity, for the types: `export default defineConfig({...})`.
 *
 * @example
 * ```ts
 * // slotstream.config.js (todos: a tableStream from the service's own module)
 * import { defineConfig } from 'slotstream/cli';
 * export default defineConfig({
 *   streams: [todos], migrations: { directory: './migrations' }, publication: 'todo',
 * });
 * ```
 */
export function defineConfig(config: SlotstreamConfig): SlotstreamConfig {
  return config;
}

export interface LoadedConfig {
  /** The file it came from; null when the project has none (every command still works, with defaults). */
  file: string | null;
  config: SlotstreamConfig;
  /** The publication commands use when not told: the config's, else `slotstream`. */
  publication: string;
}

/** A project without a config file: every command works with the defaults. */
export const NO_CONFIG: LoadedConfig = Object.freeze({
  file: null,
  config: {},
  publication: DEFAULT_PUBLICATION,
});

/** Searched for in this order in the working directory. `.ts` needs a TypeScript loader (tsx, Node 23+). */
export const CONFIG_FILES = ['slotstream.config.js', 'slotstream.config.mjs', 'slotstream.config.ts'];

/**
 * A slotstream.config that cannot be used: the file SLOTSTREAM_CONFIG names does not exist, it fails to
 * load, or it has no default export.
 *
 * @example
 * ```ts
 * import { ConfigError, loadConfig } from 'slotstream/cli';
 * const project = await loadConfig(process.cwd(), process.env).catch((error: unknown) => {
 *   if (error instanceof ConfigError) console.error(error.message); // which file, and what is wrong
 *   throw error;
 * });
 * ```
 */
export class ConfigError extends SlotstreamError {}

/**
 * The project's config: the file `env.SLOTSTREAM_CONFIG` names (relative to `cwd`), else the first of
 * CONFIG_FILES in `cwd`, else none (the defaults). A relative migrations directory is resolved against the
 * config's own directory. Throws ConfigError when the file is missing, fails to load, or exports nothing.
 *
 * @example
 * ```ts
 * import { loadConfig } from 'slotstream/cli';
 * const project = await loadConfig(process.cwd(), process.env);
 * console.log(project.file ?? 'no config file', project.publication, project.config.streams?.length ?? 0);
 * ```
 */
export async function loadConfig(cwd: string, env: NodeJS.ProcessEnv): Promise<LoadedConfig> {
  const file = env.SLOTSTREAM_CONFIG
    ? path.resolve(cwd, env.SLOTSTREAM_CONFIG)
    : CONFIG_FILES.map((f) => path.join(cwd, f)).find((f) => existsSync(f));
  if (file === undefined) return NO_CONFIG;
  if (!existsSync(file)) throw new ConfigError(`SLOTSTREAM_CONFIG names ${file}, which does not exist`);
  let loaded: unknown;
  try {
    loaded = ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
  } catch (error) {
    const hint = file.endsWith('.ts')
      ? ' (a .ts config needs a TypeScript loader: run through tsx, or write slotstream.config.js)'
      : '';
    throw new ConfigError(`cannot load ${file}${hint}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof loaded !== 'object' || loaded === null)
    throw new ConfigError(`${file} has no default export: export default defineConfig({ … })`);
  const config = resolvePaths(loaded as SlotstreamConfig, path.dirname(file));
  return { file, config, publication: config.publication ?? DEFAULT_PUBLICATION };
}

/** knex resolves a migrations directory against the working directory; a config means its own. */
function resolvePaths(config: SlotstreamConfig, dir: string): SlotstreamConfig {
  const migrations = config.migrations;
  if (!migrations?.directory || migrations.migrationSource) return config;
  const given = migrations.directory;
  const directory: Knex.MigratorConfig['directory'] =
    typeof given === 'string' ? path.resolve(dir, given) : given.map((d) => path.resolve(dir, d));
  return { ...config, migrations: { ...migrations, directory } };
}
