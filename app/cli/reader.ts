import { parseArgs } from 'node:util';
import pino from 'pino';
import { formatLsn } from 'slotstream';
import {
  CONNECTION_USAGE,
  type Command,
  resolveConnection,
  SLOT_OPTIONS,
  SLOT_USAGE,
  slotAndPublication,
  UsageError,
} from 'slotstream/cli';
import { createLogger } from '../http/logger.ts';
import { readerLag } from '../reader/health.ts';
import { type ReaderApp, startReaderApp } from '../reader/reader-app.ts';
import { CATCH_UP_MS } from '../reader/sync-handler.ts';
import { listenOptions, listenUsage, milliseconds, parsePort, parseTimeouts } from './listen-options.ts';

export const DEFAULT_READER_PORT = 8081;

/** What a reader reports about itself once a second (`--json`: one JSON object per line on stdout). */
export interface ReaderStatus {
  slot: string;
  url: string;
  /** Highest stream position applied. */
  position: string;
  /** End of the last transaction applied and acknowledged. */
  applied: string;
  /** WAL received from the server but not yet applied. */
  lag_bytes: number;
  /** Age of the last applied commit while more is waiting, else 0. */
  lag_ms: number;
  updates_per_s: number;
  reconnects: number;
  resets: number;
}

export const reader: Command = {
  name: 'reader',
  summary:
    'run one reader process on a slot: the reader HTTP API, served from its caches (optionally a pusher)',
  usage: [
    'usage: slotstream reader --slot NAME [--port P] [--host H] [--writer-url URL] [--push-url URL] [--json]',
    '                         [--publication NAME] [--database-url URL] [--primary-url URL] [--no-caches]',
    '                         [--spool-dir DIR] [--catch-up-timeout MS]',
    '',
    'Consumes the slot (created on first start; when another process holds it, waits for it), applies each',
    'transaction to its caches and waiting clients, then acknowledges it, and serves the reader endpoints',
    '(/sync, /rooms/:id/messages, /events/:id, /users/:id/rooms, /users/:id/account_data/:type, /wait,',
    '/health, /metrics). Ctrl-C or SIGTERM stops it cleanly; the slot stays for the next start.',
    '',
    ...SLOT_USAGE,
    ...listenUsage(DEFAULT_READER_PORT),
    '  --writer-url URL    the writer, told which to-device messages were delivered so it can delete them',
    '  --push-url URL      pusher role: POST every new event to URL, in order, at least once; its cursor in the',
    '                      database (named after the slot) survives crashes, outages and lost slots',
    '  --json              a status line as JSON on stdout every second (logs go to stderr)',
    '  --no-caches         keep no cache: every request queries PostgreSQL (a baseline for benchmarks)',
    '  --spool-dir DIR     where transactions the server streams wait for their commit (default: the OS',
    '                      temporary directory): a disk with room for the biggest transaction, not a small tmpfs',
    '  --catch-up-timeout MS',
    '                      how long a /sync whose since is ahead of this reader waits for it to catch up before',
    `                      answering 503 M_NOT_CAUGHT_UP; default ${CATCH_UP_MS}`,
    CONNECTION_USAGE,
    '  --primary-url URL   the primary, when --database-url is a hot standby (PostgreSQL 16+): asked for a',
    "                      snapshot while the reader's slot is created, which otherwise waits up to 15 s",
    '                      (for ever on an idle primary); everything is read from the standby',
  ].join('\n'),

  async run(argv, project) {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...SLOT_OPTIONS,
        ...listenOptions(DEFAULT_READER_PORT),
        'writer-url': { type: 'string' },
        'push-url': { type: 'string' },
        'primary-url': { type: 'string' },
        json: { type: 'boolean', default: false },
        'no-caches': { type: 'boolean', default: false },
        'spool-dir': { type: 'string' },
        'catch-up-timeout': { type: 'string', default: String(CATCH_UP_MS) },
      },
      strict: true,
      allowPositionals: false,
    });
    const { slot, publication } = slotAndPublication(values, project.publication);
    const port = parsePort(values.port);
    const timeouts = parseTimeouts(values);
    const catchUpMs = milliseconds('catch-up-timeout', values['catch-up-timeout']);
    for (const name of ['writer-url', 'push-url', 'primary-url'] as const) {
      const url = values[name];
      if (url !== undefined && !URL.canParse(url))
        throw new UsageError(`--${name} must be a URL, got ${url}`);
    }
    const connection = await resolveConnection({
      databaseUrl: values['database-url'],
      log: (l) => console.error(l),
    });
    // With --json, stdout carries the status lines; the logs go to stderr.
    const logger = createLogger(slot, values.json ? { destination: pino.destination(2) } : {});
    let app: ReaderApp;
    try {
      app = await startReaderApp({
        connectionString: connection.url,
        primaryConnectionString: values['primary-url'],
        slot,
        publication,
        host: values.host,
        port,
        timeouts,
        writerUrl: values['writer-url'],
        pushUrl: values['push-url'],
        caching: !values['no-caches'],
        catchUpMs,
        logger,
        subscription: values['spool-dir'] === undefined ? undefined : { spoolDirectory: values['spool-dir'] },
      });
    } catch (error) {
      await connection.close();
      throw error;
    }
    logger.info({ url: app.url, slot }, `reader ${slot} listening on ${app.url}`);
    if (!values.json) console.error(`reader ${slot} listening on ${app.url}`);

    let last = { at: Date.now(), updates: totalUpdates(app) };
    const timer = setInterval(() => {
      const now = Date.now();
      const updates = totalUpdates(app);
      const status = statusOf(app, slot, ((updates - last.updates) * 1000) / Math.max(1, now - last.at));
      last = { at: now, updates };
      if (values.json) console.log(JSON.stringify(status));
    }, 1000);

    // `on`, not `once`: a repeated signal during the shutdown must not kill the process half-way.
    let onSignal: (signal: NodeJS.Signals) => void = () => {};
    const stopped = new Promise<string>((resolve) => {
      onSignal = (signal) => resolve(signal);
    });
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // A reader that stops, or a pusher that cannot go on (its database work failed for good), ends the process.
    const failed = Promise.race([app.reader.done, ...(app.pusher ? [app.pusher.done] : [])]).then(
      () => undefined,
      (error: unknown) => error,
    );
    const outcome = await Promise.race([stopped, failed]);
    clearInterval(timer);
    await app.close();
    await connection.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (outcome instanceof Error) throw outcome;
    logger.info({ slot }, `reader ${slot} stopped (${String(outcome ?? 'closed')}); the slot stays`);
    return 0;
  },
};

function totalUpdates(app: ReaderApp): number {
  return Object.values(app.reader.stats.updates).reduce((a, b) => a + b, 0);
}

function statusOf(app: ReaderApp, slot: string, updatesPerS: number): ReaderStatus {
  const stats = app.reader.stats;
  const lag = readerLag(app.reader);
  return {
    slot,
    url: app.url,
    position: stats.position.toString(),
    applied: formatLsn(stats.appliedLsn),
    lag_bytes: lag.bytes,
    lag_ms: lag.ms,
    updates_per_s: Math.round(updatesPerS),
    reconnects: stats.reconnects,
    resets: stats.resets,
  };
}

export function formatStatus(s: ReaderStatus): string {
  return `${s.slot}  ${s.url}  position ${s.position}  applied ${s.applied}  lag ${s.lag_bytes} B / ${s.lag_ms} ms  ${
    s.updates_per_s
  } updates/s${s.reconnects ? `  reconnects ${s.reconnects}` : ''}${s.resets ? `  resets ${s.resets}` : ''}`;
}
