/**
 * The writer process of the reference application: one knex pool, the StreamWriter over it, the HTTP API
 * (routes.ts) and the typing timers. `startWriterApp` checks the database first, so a missing schema fails
 * at start in one sentence rather than as a 500 on the first write.
 */
import knexFactory, { type Knex } from 'knex';
import type { Logger } from 'pino';
import { SlotstreamError, StreamWriter, sqlState } from 'slotstream';
import { knexConfig } from 'slotstream/migrations';
import {
  createLogger,
  createMetricsRegistry,
  DEFAULT_HOST,
  type HttpTimeouts,
  startHttpServer,
} from '../http/index.ts';
import { typingStream } from '../streams.ts';
import { Accounts } from './accounts.ts';
import { WriterMetrics } from './metrics.ts';
import { writerRouter } from './routes.ts';
import { TypingTimers } from './typing.ts';
import { ChatWrites } from './writes.ts';

/** The writer's port when none is given (docs/http-api.md). */
export const DEFAULT_WRITER_PORT = 8008;
/** Connections in the writer's pool: writes serialise on stream_head at commit anyway. */
export const WRITER_POOL_SIZE = 10;

export interface WriterAppOptions {
  connectionString: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8008; 0 picks a free port. */
  port?: number;
  /** Default: pino JSON lines on stdout, named `writer`. */
  logger?: Logger;
  /** How long close() lets requests under way finish. */
  shutdownGraceMs?: number;
  /** Timeouts on receiving requests; DEFAULT_HTTP_TIMEOUTS for those not given. */
  timeouts?: Partial<HttpTimeouts>;
  /**
   * Closes registration: only a `POST /register` bearing this token may register users. Without it,
   * registration is open (the demo's default).
   */
  registrationToken?: string;
}

export interface WriterApp {
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, lets requests finish, clears typing timers, closes the pool. Idempotent. */
  close(): Promise<void>;
}

export async function startWriterApp(options: WriterAppOptions): Promise<WriterApp> {
  const logger = options.logger ?? createLogger('writer');
  const knex = knexFactory({
    ...knexConfig(options.connectionString),
    pool: { min: 0, max: WRITER_POOL_SIZE },
  });
  let server: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  let typing: TypingTimers | undefined;
  try {
    const writer = new StreamWriter(knex);
    const writes = new ChatWrites(writer);
    await checkSchema(knex, writes);
    const registry = createMetricsRegistry({ process: 'writer' });
    const metrics = new WriterMetrics(registry, () => typing?.active ?? 0);
    typing = new TypingTimers({
      emit: (row) => writer.emitEphemeral(typingStream, row),
      onExpired: () => metrics.typingExpired.inc(),
      onExpiryError: (err, row) =>
        logger.warn(
          { err, room_id: row.room_id, user_id: row.user_id },
          'could not stop an expired typing notification',
        ),
    });
    const router = writerRouter({
      writes,
      accounts: new Accounts(writer),
      typing,
      metrics,
      registry,
      registrationToken: options.registrationToken,
    });
    server = await startHttpServer({
      router,
      logger,
      host: options.host ?? DEFAULT_HOST,
      port: options.port ?? DEFAULT_WRITER_PORT,
      timeouts: options.timeouts,
      ...(options.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: options.shutdownGraceMs }),
    });
  } catch (err) {
    await typing?.close();
    await knex.destroy();
    throw err;
  }
  logger.info(
    { url: server.url, registration: options.registrationToken === undefined ? 'open' : 'closed' },
    'writer listening',
  );

  const http = server;
  const timers = typing;
  let closing: Promise<void> | undefined;
  return {
    url: http.url,
    port: http.port,
    close() {
      closing ??= (async () => {
        try {
          await http.close();
          await timers.close();
        } finally {
          await knex.destroy();
        }
      })();
      return closing;
    },
  };
}

/**
 * The tables the writer needs exist (else the migrations have not run here), and its role may write them:
 * a writer that cannot would say ok and fail every request.
 */
async function checkSchema(knex: Knex, writes: ChatWrites): Promise<void> {
  try {
    await knex.raw('SELECT position FROM stream_head');
    await knex.raw('SELECT 1 FROM events, receipts, account_data, device_inbox, access_tokens LIMIT 0');
  } catch (err) {
    if (sqlState(err) === '42P01')
      throw new SlotstreamError(
        `the database has no slotstream schema (${(err as Error).message}): run \`slotstream migrate\` against it first`,
        { cause: err, code: '42P01' },
      );
    if (sqlState(err) !== '42501') throw err;
  }
  const missing = await writes.missingPrivileges();
  if (missing.length > 0)
    throw new SlotstreamError(
      `the writer's database role cannot write the streams: ${missing.map((m) => m.detail).join('; ')}. ` +
        `As the tables' owner: ${missing.map((m) => `${m.grant};`).join(' ')} (scripts/sql/roles.sql grants ` +
        "what the streams need; the README's least-privilege steps grant event_txns)",
      { code: '42501' },
    );
}
