import {
  CacheRegistry,
  CacheRules,
  StreamReader,
  type StreamReaderOptions,
  StreamSet,
  type SubscriptionStatus,
} from 'slotstream';
import { defineChangeCaches, defineChatCaches } from '../caches.ts';
import { createMetricsRegistry } from '../http/metrics.ts';
import { DEFAULT_HOST, type HttpLogger, type HttpTimeouts, startHttpServer } from '../http/server.ts';
import { Pusher } from '../pusher/pusher.ts';
import { CHAT_STREAMS, typingStream } from '../streams.ts';
import { DeliveryAcks } from './delivery-acks.ts';
import { ReaderHealth } from './health.ts';
import { registerReaderMetrics } from './metrics.ts';
import { type RouteCount, readerRoutes } from './routes.ts';
import { ChatStore } from './store.ts';
import { TypingState } from './typing-state.ts';

export interface ReaderAppOptions {
  connectionString: string;
  /** The primary, when `connectionString` is a hot standby: see StreamReaderOptions. */
  primaryConnectionString?: string;
  slot: string;
  /** Default `slotstream`. */
  publication?: string;
  host?: string;
  port?: number;
  /** Timeouts on receiving requests; DEFAULT_HTTP_TIMEOUTS for those not given. */
  timeouts?: Partial<HttpTimeouts>;
  /** The writer, for what reads need written (deleting delivered to-device messages). */
  writerUrl?: string;
  /**
   * Pusher role: POST every new event here, in order, at least once; its cursor is named after the slot.
   * The slot is acknowledged as usual: the pusher catches up from the events table.
   */
  pushUrl?: string;
  /**
   * False: the baseline that benchmarks compare with, a reader that keeps nothing and queries PostgreSQL
   * on every request (as one did before its caches). Default true.
   */
  caching?: boolean;
  logger: HttpLogger & { info: (obj: object, msg?: string) => void };
  /** Passed to the runtime (temporary slots, waiting for an active slot, …). */
  subscription?: StreamReaderOptions['subscription'];
  onStatus?: (status: SubscriptionStatus) => void;
  /** Without a replication session this long, /health answers 503 (default 10 s). */
  reconnectGraceMs?: number;
  /** How long a /sync whose `since` is ahead of this reader waits for it (default CATCH_UP_MS, 10 s). */
  catchUpMs?: number;
}

export interface ReaderApp {
  url: string;
  port: number;
  reader: StreamReader;
  pusher: Pusher | undefined;
  close(): Promise<void>;
}

/**
 * One reader process of the reference application: the runtime on its slot, the caches and typing state
 * it keeps fresh, the HTTP API over them, and the pusher when it has a webhook. Closing stops the HTTP
 * server (long-polls are answered), then the pusher (its cursor stays), then the runtime (acknowledging what
 * it applied and closing the slot's connection; the slot stays).
 */
export async function startReaderApp(options: ReaderAppOptions): Promise<ReaderApp> {
  const { logger } = options;
  const rules = new CacheRules(new CacheRegistry());
  const caches = defineChatCaches(rules);
  const changes = defineChangeCaches(rules);
  // The baseline gives the runtime no rules: no cache is filled (the store reads through), and the change
  // caches, never started, answer "maybe changed" to everything, so /sync reads every stream.
  const caching = options.caching ?? true;
  const typing = new TypingState();
  let started: StreamReader | undefined;
  const health = new ReaderHealth(() => started, {
    connectionString: options.connectionString,
    reconnectGraceMs: options.reconnectGraceMs,
  });
  const reader = await StreamReader.start({
    connectionString: options.connectionString,
    primaryConnectionString: options.primaryConnectionString,
    slot: options.slot,
    publication: options.publication,
    streams: new StreamSet(CHAT_STREAMS),
    caches: caching ? rules : undefined,
    onUpdate: (update) => {
      if (typingStream.is(update)) typing.apply(update.row, update.position);
    },
    onReset: (event) => {
      typing.clear();
      logger.warn({ event }, 'slot reset: caches flushed, clients told to resync');
    },
    onStatus: (status) => {
      const spoolError = health.follow(status);
      // A full or unwritable spool directory is for an operator to fix: reconnecting will not.
      if (spoolError)
        logger.error({ err: spoolError }, `replication: the spool directory failed: ${spoolError.message}`);
      else logger.info({ status }, `replication: ${status.event}`);
      options.onStatus?.(status);
    },
    onFault: (fault) =>
      logger.error(
        { err: fault.error, kind: fault.kind },
        `integrity fault, not applying: ${fault.error.message}`,
      ),
    onWarning: (error) => logger.warn({ err: error }, error.message),
    subscription: { ifSlotActive: 'wait', ...options.subscription },
  });
  started = reader;
  let pusher: Pusher | undefined;
  if (options.pushUrl !== undefined) {
    try {
      pusher = await Pusher.start({
        connectionString: options.connectionString,
        primaryConnectionString: options.primaryConnectionString,
        url: options.pushUrl,
        name: options.slot,
        reader,
        logger,
      });
    } catch (error) {
      await reader.close();
      throw error;
    }
    pusher.done.catch((error: unknown) =>
      logger.error({ err: error }, 'the pusher stopped: nothing more is pushed until a restart'),
    );
  }
  const store = ChatStore.open(options.connectionString, caching ? caches : undefined);
  const acks = options.writerUrl === undefined ? undefined : new DeliveryAcks(options.writerUrl, logger);
  const metrics = createMetricsRegistry({ process: options.slot });
  const counts = new Map<string, RouteCount>();
  registerReaderMetrics(metrics, reader, { routes: counts, changes: Object.values(changes), pusher });
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  try {
    server = await startHttpServer({
      router: readerRoutes({
        reader,
        store,
        typing,
        changes,
        metrics,
        counts,
        health,
        catchUpMs: options.catchUpMs,
        onDelivered: acks === undefined ? undefined : (caller, upto) => acks.delivered(caller, upto),
      }),
      logger,
      host: options.host ?? DEFAULT_HOST,
      port: options.port ?? 0,
      timeouts: options.timeouts,
    });
  } catch (error) {
    await pusher?.close();
    await reader.close();
    await store.close();
    throw error;
  }
  // The runtime stopping on its own (a schema change, a server that refuses) is fatal for the process.
  reader.done.catch((error: unknown) => logger.error({ err: error }, 'the reader stopped'));

  return {
    url: server.url,
    port: server.port,
    reader,
    pusher,
    async close() {
      await server.close();
      await pusher?.close(); // before the reader, whose closing would otherwise fail the pusher's wait
      await reader.close();
      await acks?.close();
      await store.close();
    },
  };
}
