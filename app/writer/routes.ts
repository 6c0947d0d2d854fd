/**
 * The writer's HTTP API (docs/http-api.md, writer table), plus the internal
 * `POST /_slotstream/to_device/delete` readers call to have delivered to-device messages removed, and
 * `/health` and `/metrics`. Every handler reads and checks its whole input first (input.ts), then writes.
 */
import type { Registry } from 'prom-client';
import { type HandlerResult, metricsHandler, type RequestContext, Router } from '../http/index.ts';
import {
  accountDataInput,
  membershipInput,
  receiptInput,
  sendInput,
  sendOnceInput,
  toDeviceDeleteInput,
  toDeviceInput,
  typingInput,
} from './input.ts';
import type { WriterMetrics } from './metrics.ts';
import type { TypingTimers } from './typing.ts';
import type { ChatWrites } from './writes.ts';

export interface WriterRouteDeps {
  writes: ChatWrites;
  typing: TypingTimers;
  metrics: WriterMetrics;
  registry: Registry;
}

export function writerRouter({ writes, typing, metrics, registry }: WriterRouteDeps): Router {
  const router = new Router();
  /** A route whose requests are counted and timed under `endpoint`. */
  const write = (
    method: 'POST' | 'PUT',
    pattern: string,
    endpoint: string,
    handler: (ctx: RequestContext) => Promise<unknown>,
  ) =>
    router.route(method, pattern, (ctx) =>
      metrics.measure(endpoint, async (): Promise<HandlerResult> => ({ body: await handler(ctx) })),
    );

  for (const membership of ['join', 'leave'] as const) {
    write('POST', `/rooms/:roomId/${membership}`, membership, async (ctx) => {
      const written = await writes.membership(membershipInput(ctx.params, await ctx.body(), membership));
      return { event_id: written.event_id, position: written.position };
    });
  }

  write('POST', '/rooms/:roomId/send', 'send', async (ctx) => {
    return writes.send(sendInput(ctx.params, await ctx.body()));
  });

  write('PUT', '/rooms/:roomId/send/:eventType/:txnId', 'send', async (ctx) => {
    return writes.sendOnce(sendOnceInput(ctx.params, await ctx.body()));
  });

  write('POST', '/rooms/:roomId/receipt', 'receipt', async (ctx) => ({
    position: await writes.receipt(receiptInput(ctx.params, await ctx.body())),
  }));

  write('PUT', '/rooms/:roomId/typing/:userId', 'typing', async (ctx) => {
    await typing.set(typingInput(ctx.params, await ctx.body()));
    return {};
  });

  write('PUT', '/users/:userId/account_data/:type', 'account_data', async (ctx) => ({
    position: await writes.accountData(accountDataInput(ctx.params, await ctx.body())),
  }));

  write('POST', '/users/:userId/to_device', 'to_device', async (ctx) => ({
    position: await writes.toDevice(toDeviceInput(ctx.params, await ctx.body())),
  }));

  write('POST', '/_slotstream/to_device/delete', 'to_device_delete', async (ctx) =>
    writes.deleteToDevice(toDeviceDeleteInput(await ctx.body())),
  );

  // Healthy only if the database answers and the writer's role may still write the streams (a revoked
  // GRANT would fail every write while the process looked fine).
  router.route('GET', '/health', async () => {
    const position = await writes.head();
    const missing = await writes.missingPrivileges();
    if (missing.length === 0) return { body: { status: 'ok', position } };
    return {
      status: 503,
      body: {
        status: 'failing',
        reason: `the writer's role lacks: ${missing.map((m) => `${m.detail} (${m.grant})`).join('; ')}`,
        position,
      },
    };
  });
  router.route('GET', '/metrics', metricsHandler(registry));
  return router;
}
