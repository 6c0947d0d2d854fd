import type { Registry } from 'prom-client';
import { decodePosition, InvalidTokenError, type StreamReader, WaitTimeoutError } from 'slotstream';
import {
  HttpError,
  invalidParam,
  LIMIT_BOUNDS,
  metricsHandler,
  queryInteger,
  Router,
  requireQueryString,
  TIMEOUT_BOUNDS,
  validateEventId,
  validateEventType,
  validateRoomId,
  validateUserId,
} from '../http/index.ts';
import { readerHealth } from './health.ts';
import type { ChatStore } from './store.ts';
import { handleSync, type SyncDeps } from './sync-handler.ts';

export interface ReaderRoutesDeps extends SyncDeps {
  reader: StreamReader;
  store: ChatStore;
  metrics: Registry;
}

/** The reader endpoints of docs/http-api.md. Reads only: nothing here writes to the database. */
export function readerRoutes(deps: ReaderRoutesDeps): Router {
  const { reader, store } = deps;
  return new Router()
    .route('GET', '/sync', (ctx) => handleSync(deps, ctx))
    .route('GET', '/rooms/:roomId/messages', async (ctx) => {
      const roomId = validateRoomId(ctx.params.roomId, 'roomId');
      const limit = queryInteger(ctx.query, 'limit', LIMIT_BOUNDS, 10) ?? 10;
      return { body: { chunk: await store.roomMessages(roomId, limit) } };
    })
    .route('GET', '/events/:eventId', async (ctx) => {
      const eventId = validateEventId(ctx.params.eventId, 'eventId');
      const event = await store.getEvent(eventId);
      if (event === null) throw new HttpError(404, 'M_NOT_FOUND', `no event ${eventId}`);
      return { body: event };
    })
    .route('GET', '/users/:userId/rooms', async (ctx) => {
      const userId = validateUserId(ctx.params.userId, 'userId');
      return { body: { joined: await store.roomsForUser(userId) } };
    })
    .route('GET', '/users/:userId/account_data/:type', async (ctx) => {
      const userId = validateUserId(ctx.params.userId, 'userId');
      const type = validateEventType(ctx.params.type, 'type');
      const content = await store.accountData(userId, type);
      if (content === null) throw new HttpError(404, 'M_NOT_FOUND', `no account data ${type} for ${userId}`);
      return { body: content };
    })
    .route('GET', '/wait', async (ctx) => {
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
    })
    .route('GET', '/health', () => ({ body: readerHealth(reader) }))
    .route('GET', '/metrics', metricsHandler(deps.metrics));
}
