import { parseArgs } from 'node:util';
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  type Command,
  resolveConnection,
  UsageError,
} from 'slotstream/cli';
import { REGISTRATION_TOKEN_ENV } from '../auth/registration-token.ts';
import { DEFAULT_WRITER_PORT, startWriterApp } from '../writer/index.ts';
import { listenOptions, listenUsage, parsePort, parseTimeouts } from './listen-options.ts';
import { registrationTokenOption } from './registration-option.ts';

export const writer: Command = {
  name: 'writer',
  summary: "run the reference application's writer: the HTTP API that writes events, receipts, typing, …",
  usage: [
    'usage: slotstream writer [--port P] [--host H] [--registration-token TOKEN] [--database-url URL]',
    '',
    "Serves the reference application's writer API (docs/http-api.md) over the database's stream tables; run",
    '`slotstream migrate` first. Prints `writer listening on URL` to stderr once it accepts requests; logs',
    'are JSON lines on stdout (LOG_LEVEL=debug adds one per request). Ctrl-C or SIGTERM stops it cleanly.',
    '',
    ...listenUsage(DEFAULT_WRITER_PORT),
    '  --registration-token TOKEN',
    '                      close registration: POST /register then needs Authorization: Bearer TOKEN',
    `                      (16 characters at least); default: $${REGISTRATION_TOKEN_ENV}, else it is open`,
    CONNECTION_USAGE,
  ].join('\n'),

  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...CONNECTION_OPTIONS,
        ...listenOptions(DEFAULT_WRITER_PORT),
        'registration-token': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    const port = parsePort(values.port);
    if (values.host === '') throw new UsageError('--host must not be empty');
    const timeouts = parseTimeouts(values);
    const registrationToken = registrationTokenOption(values['registration-token'], process.env);

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
      const app = await startWriterApp({
        connectionString: connection.url,
        host: values.host,
        port,
        timeouts,
        registrationToken,
      });
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
