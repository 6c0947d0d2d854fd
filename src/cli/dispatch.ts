import type { Command } from './command.ts';
import { UsageError } from './command.ts';
import { type LoadedConfig, NO_CONFIG } from './project-config.ts';
import { formatError } from './report-error.ts';

/** Where the dispatcher writes, and the environment it reads; the real process in main.ts, fakes in tests. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const HELP_FLAGS = new Set(['--help', '-h']);

/**
 * Runs `slotstream ARGV`: the first argument names the command, the rest are its own (parsed by the
 * command with node:util parseArgs). Resolves to the process exit code; never throws.
 */
export async function dispatch(
  argv: readonly string[],
  commands: readonly Command[],
  io: Io,
  project: LoadedConfig = NO_CONFIG,
): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.err(overview(commands));
    return EXIT_USAGE;
  }
  if (HELP_FLAGS.has(first) || first === 'help') return help(rest[0], commands, io);
  const command = commands.find((c) => c.name === first);
  if (!command) {
    io.err(
      first.startsWith('-')
        ? `error: options go after the command: slotstream <command> [options]\n\n${overview(commands)}`
        : `error: unknown command '${first}'\n\n${overview(commands)}`,
    );
    return EXIT_USAGE;
  }
  if (rest.some((a) => HELP_FLAGS.has(a))) {
    io.out(command.usage);
    return EXIT_OK;
  }
  try {
    return (await command.run(rest, project)) ?? EXIT_OK;
  } catch (err) {
    if (isUsageError(err)) {
      io.err(`error: ${(err as Error).message}\n\n${command.usage}`);
      return EXIT_USAGE;
    }
    io.err(formatError(err, io.env.SLOTSTREAM_DEBUG === '1'));
    return EXIT_FAILURE;
  }
}

function help(name: string | undefined, commands: readonly Command[], io: Io): number {
  if (name === undefined) {
    io.out(overview(commands));
    return EXIT_OK;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`error: unknown command '${name}'\n\n${overview(commands)}`);
    return EXIT_USAGE;
  }
  io.out(command.usage);
  return EXIT_OK;
}

export function overview(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: slotstream <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Connection: --database-url URL, else DATABASE_URL, else the embedded cluster under .slotstream/pg',
    '(started on demand). Project: slotstream.config.js in this directory (or SLOTSTREAM_CONFIG) declares',
    'its streams, migrations and commands. `slotstream help <command>` shows a command’s options;',
    'docs/cli.md in the package has the rest.',
  ].join('\n');
}

/** Ours, or node:util parseArgs rejecting an unknown option, a missing value or a stray positional. */
function isUsageError(err: unknown): boolean {
  if (err instanceof UsageError) return true;
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
