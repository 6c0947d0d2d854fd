import type { LoadedConfig } from './project-config.ts';

/**
 * What a `slotstream` subcommand is. Each lives in its own file under src/cli/ and is listed once in
 * commands.ts (a project's config may add its own); the dispatcher (dispatch.ts) does help, exit codes and
 * error reporting for all of them.
 */
export interface Command {
  name: string;
  /** One line for `slotstream --help`. */
  summary: string;
  /** Full help for `slotstream help NAME` / `slotstream NAME --help`, starting with `usage: slotstream NAME`. */
  usage: string;
  /**
   * `argv`: the arguments after the command name; `project`: the project's slotstream.config, if any.
   * Resolves to the exit code; undefined means 0.
   */
  run(argv: string[], project: LoadedConfig): Promise<number | undefined>;
}

/**
 * Wrong arguments: reported with the command's usage, exit code 2, before anything is touched.
 *
 * @example
 * ```ts
 * import { type Command, UsageError } from 'slotstream/cli';
 * export const hello: Command = {
 *   name: 'hello', summary: 'greet someone', usage: 'usage: slotstream hello NAME',
 *   async run(argv) {
 *     if (argv.length !== 1) throw new UsageError('hello wants exactly one NAME');
 *     console.log(`hello ${argv[0]}`);
 *     return 0;
 *   },
 * };
 * ```
 */
export class UsageError extends Error {
  override name = 'UsageError';
}
