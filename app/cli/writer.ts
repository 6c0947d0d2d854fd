import { parseArgs } from 'node:util';
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  type Command,
  resolveConnection,
  UsageError,
} from 'slotstream/cli';
import { DEFAULT_WRITER_PORT, startWriterApp } from '../writer/index.ts';
import { listenOptions, listenUsage, parsePort } from './listen-options.ts';

export const writer: Command = {
  name: 'writer',
  summary: "run the reference application's writer: the HTTP API that writes events, receipts, typing, …",
  usage: [
    'usage: slotstream writer [--port P] [--host H] [--database-url URL]',
    '',
    "Serves the reference application's writer API (docs/http-api.md) over the database's stream tables; run",
    '`slotstream migrate` first. Prints `writer listening on URL` to stderr once it accepts requests; logs',
    'are JSON lines on stdout (LOG_LEVEL=debug adds one per request). Ctrl-C or SIGTERM stops it cleanly.',
    '',
    ...listenUsage(DEFAULT_WRITER_PORT),
    CONNECTION_USAGE,
  ].join('\n'),

  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...CONNECTION_OPTIONS,
        ...listenOptions(DEFAULT_WRITER_PORT),
      },
      strict: true,
      allowPositionals: false,
    });
    const port = parsePort(values.port);
    if (values.host === '') throw new UsageError('--host must not be empty');

    const connection = await resolveConnection({
      databaseUrl: values['database-url'],
      log: (l) => console.error(l),
    });
    let stopped!: () => void;
    const stop = new Promise<void>((resolve) => {
      stopped = resolve;
    });
    process.once('SIGINT', stopped);
    process.once('SIGTERM', stopped);
    try {
      const app = await startWriterApp({ connectionString: connection.url, host: values.host, port });
      console.error(`writer listening on ${app.url}`);
      await stop;
      await app.close();
    } finally {
      process.off('SIGINT', stopped);
      process.off('SIGTERM', stopped);
      await connection.close();
    }
    return 0;
  },
};
