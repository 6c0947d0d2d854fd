import type { Registry } from 'prom-client';
import { decodePosition, InvalidTokenError, type StreamReader, WaitTimeoutError } from 'slotstream';
import { actingUser } from '../auth/acting-user.ts';
import { authenticate, type Caller } from '../auth/authenticate.ts';
import { forbidden } from '../auth/errors.ts';
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
} from '../http/index.ts';
import type { ReaderHealth } from './health.ts';
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
  /** Answers /health: 503 with a reason while the reader cannot be trusted to serve fresh data. */
  health: ReaderHealth;
  /** Filled in here: each route's counts, by pattern. */
  counts: Map<string, RouteCount>;
}

/**
 * The reader endpoints of docs/http-api.md. Reads only: nothing here writes to the database. Every endpoint
 * but `/wait`, `/health` and `/metrics` authenticates its caller through the token cache, and serves only
 * the caller's own data and rooms they have joined (their cached room list).
 */
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
  /** A GET route for an authenticated caller: the token is checked first (401 before anything else). */
  const authed = (
    pattern: string,
    handler: (ctx: RequestContext, store: ChatStore, caller: Caller) => ReturnType<Handler>,
  ) =>
    get(pattern, async (ctx, store) =>
      handler(ctx, store, await authenticate(ctx.req, (hash) => store.userForToken(hash))),
    );
  authed('/sync', (ctx, store, caller) => handleSync({ ...deps, store }, ctx, caller));
  authed('/rooms/:roomId/messages', async (ctx, store, caller) => {
    const roomId = validateRoomId(ctx.params.roomId, 'roomId');
    const limit = queryInteger(ctx.query, 'limit', LIMIT_BOUNDS, 10) ?? 10;
    await requireJoined(store, caller.userId, roomId);
    return { body: { chunk: await store.roomMessages(roomId, limit) } };
  });
  authed('/events/:eventId', async (ctx, store, caller) => {
    const eventId = validateEventId(ctx.params.eventId, 'eventId');
    const event = await store.getEvent(eventId);
    if (event === null) throw new HttpError(404, 'M_NOT_FOUND', `no event ${eventId}`);
    await requireJoined(store, caller.userId, event.room_id);
    return { body: event };
  });
  authed('/users/:userId/rooms', async (ctx, store, caller) => {
    const userId = actingUser(ctx.params.userId, 'userId', caller.userId, 'param');
    return { body: { joined: await store.roomsForUser(userId) } };
  });
  authed('/users/:userId/account_data/:type', async (ctx, store, caller) => {
    const userId = actingUser(ctx.params.userId, 'userId', caller.userId, 'param');
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
  get('/health', () => deps.health.check());
  get('/metrics', metricsHandler(deps.metrics));
  return router;
}

/** 403 M_FORBIDDEN unless the user has joined the room now, by their cached room list (no query once cached). */
async function requireJoined(store: ChatStore, userId: string, roomId: string): Promise<void> {
  if (!(await store.roomsForUser(userId)).includes(roomId))
    throw forbidden(`${userId} is not a member of ${roomId}`);
}
