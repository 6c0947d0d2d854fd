/** The `slotstream` process (bin/slotstream.js imports this): the project's config, dispatch, exit code. */
import { commands } from './commands.ts';
import { dispatch, EXIT_FAILURE, type Io } from './dispatch.ts';
import { loadConfig } from './project-config.ts';
import { formatError } from './report-error.ts';

const io: Io = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
  env: process.env,
};

process.exitCode = await loadConfig(process.cwd(), process.env).then(
  (project) => {
    const own = project.config.commands ?? [];
    const clash = own.find((c) => commands.some((mine) => mine.name === c.name));
    if (clash) {
      io.err(
        `error: ${project.file} adds a command '${clash.name}', which slotstream already has; rename it`,
      );
      return EXIT_FAILURE;
    }
    return dispatch(process.argv.slice(2), [...commands, ...own], io, project);
  },
  (error: unknown) => {
    io.err(formatError(error, process.env.SLOTSTREAM_DEBUG === '1'));
    return EXIT_FAILURE;
  },
);
