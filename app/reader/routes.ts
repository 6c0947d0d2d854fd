import type { Registry } from 'prom-client';
import { decodePosition, InvalidTokenError, type StreamReader, WaitTimeoutError } from 'slotstream';
import {
  type Handler,
  HttpError,
  invalidParam,
  LIMIT_BOUNDS,
  metricsHandler,
  queryInteger,
  type RequestContext,
  Router,
  requireQueryString,
  TIMEOUT_BOUNDS,
  validateEventId,
  validateEventType,
  validateRoomId,
  validateUserId,
} from '../http/index.ts';
import { readerHealth } from './health.ts';
import type { ChatStore, QueryCount } from './store.ts';
import { handleSync, type SyncDeps } from './sync-handler.ts';

/** A route's requests, and the database queries they issued: /metrics gives queries per request. */
export interface RouteCount extends QueryCount {
  requests: number;
}

export interface ReaderRoutesDeps extends SyncDeps {
  reader: StreamReader;
  store: ChatStore;
  metrics: Registry;
  /** Filled in here: each route's counts, by pattern. */
  counts: Map<string, RouteCount>;
}

/** The reader endpoints of docs/http-api.md. Reads only: nothing here writes to the database. */
export function readerRoutes(deps: ReaderRoutesDeps): Router {
  const { reader } = deps;
  const router = new Router();
  /** A GET route that counts its requests, and the queries issued through the store it is handed. */
  const get = (pattern: string, handler: (ctx: RequestContext, store: ChatStore) => ReturnType<Handler>) => {
    const count: RouteCount = { requests: 0, queries: 0 };
    deps.counts.set(pattern, count);
    const store = deps.store.countingIn(count);
    router.route('GET', pattern, (ctx) => {
      count.requests++;
      return handler(ctx, store);
    });
  };
  get('/sync', (ctx, store) => handleSync({ ...deps, store }, ctx));
  get('/rooms/:roomId/messages', async (ctx, store) => {
    const roomId = validateRoomId(ctx.params.roomId, 'roomId');
    const limit = queryInteger(ctx.query, 'limit', LIMIT_BOUNDS, 10) ?? 10;
    return { body: { chunk: await store.roomMessages(roomId, limit) } };
  });
  get('/events/:eventId', async (ctx, store) => {
    const eventId = validateEventId(ctx.params.eventId, 'eventId');
    const event = await store.getEvent(eventId);
    if (event === null) throw new HttpError(404, 'M_NOT_FOUND', `no event ${eventId}`);
    return { body: event };
  });
  get('/users/:userId/rooms', async (ctx, store) => {
    const userId = validateUserId(ctx.params.userId, 'userId');
    return { body: { joined: await store.roomsForUser(userId) } };
  });
  get('/users/:userId/account_data/:type', async (ctx, store) => {
    const userId = validateUserId(ctx.params.userId, 'userId');
    const type = validateEventType(ctx.params.type, 'type');
    const content = await store.accountData(userId, type);
    if (content === null) throw new HttpError(404, 'M_NOT_FOUND', `no account data ${type} for ${userId}`);
    return { body: content };
  });
  get('/wait', async (ctx) => {
    let position: bigint;
    try {
      position = decodePosition(requireQueryString(ctx.query, 'position'));
    } catch (error) {
      if (error instanceof InvalidTokenError) throw invalidParam(`position: ${error.message}`);
      throw error;
    }
    const timeoutMs = queryInteger(ctx.query, 'timeout', TIMEOUT_BOUNDS, 30_000) ?? 30_000;
    try {
      const applied = await reader.waitForPosition(position, timeoutMs, ctx.signal);
      return { body: { position: applied.toString() } };
    } catch (error) {
      if (!(error instanceof WaitTimeoutError)) throw error;
      throw new HttpError(
        504,
        'M_TIMEOUT',
        `position ${position} not applied within ${timeoutMs} ms; this reader is at ${reader.position}`,
      );
    }
  });
  get('/health', () => ({ body: readerHealth(reader) }));
  get('/metrics', metricsHandler(deps.metrics));
  return router;
}
