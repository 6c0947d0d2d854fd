/**
 * The writer's HTTP API (docs/http-api.md, writer table), plus the internal
 * `POST /_slotstream/to_device/delete` readers call to have delivered to-device messages removed, and
 * `/health` and `/metrics`. Every endpoint but `/register`, `/health` and `/metrics` authenticates its caller
 * first (401 before anything else), then reads and checks its whole input (input.ts), then writes.
 */
import type { Registry } from 'prom-client';
import { authenticate, type Caller } from '../auth/authenticate.ts';
import { requireRegistrationToken } from '../auth/registration-token.ts';
import { type HandlerResult, metricsHandler, type RequestContext, Router } from '../http/index.ts';
import type { Accounts } from './accounts.ts';
import {
  accountDataInput,
  membershipInput,
  receiptInput,
  registerInput,
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
  accounts: Accounts;
  typing: TypingTimers;
  metrics: WriterMetrics;
  registry: Registry;
  /** When set, registration is closed: only a request bearing this token may register users. */
  registrationToken?: string;
}

export function writerRouter(deps: WriterRouteDeps): Router {
  const { writes, accounts, typing, metrics, registry } = deps;
  const router = new Router();
  /** A route whose requests are counted and timed under `endpoint`. */
  const measured = (
    method: 'POST' | 'PUT',
    pattern: string,
    endpoint: string,
    handler: (ctx: RequestContext) => Promise<unknown>,
  ) =>
    router.route(method, pattern, (ctx) =>
      metrics.measure(endpoint, async (): Promise<HandlerResult> => ({ body: await handler(ctx) })),
    );
  /** A measured route for an authenticated caller (the writer checks tokens in the database, uncached). */
  const write = (
    method: 'POST' | 'PUT',
    pattern: string,
    endpoint: string,
    handler: (ctx: RequestContext, caller: Caller) => Promise<unknown>,
  ) =>
    measured(method, pattern, endpoint, async (ctx) =>
      handler(ctx, await authenticate(ctx.req, accounts.userForToken)),
    );

  measured('POST', '/register', 'register', async (ctx) => {
    requireRegistrationToken(ctx.req, deps.registrationToken);
    return accounts.register(registerInput(await ctx.body()));
  });

  write('POST', '/logout', 'logout', async (_ctx, caller) => ({
    position: await accounts.logout(caller.tokenHash),
  }));

  for (const membership of ['join', 'leave'] as const) {
    write('POST', `/rooms/:roomId/${membership}`, membership, async (ctx, caller) => {
      const input = membershipInput(ctx.params, await ctx.body(), membership, caller.userId);
      const written = await writes.membership(input);
      return { event_id: written.event_id, position: written.position };
    });
  }

  write('POST', '/rooms/:roomId/send', 'send', async (ctx, caller) => {
    return writes.send(sendInput(ctx.params, await ctx.body(), caller.userId));
  });

  write('PUT', '/rooms/:roomId/send/:eventType/:txnId', 'send', async (ctx, caller) => {
    return writes.sendOnce(sendOnceInput(ctx.params, await ctx.body(), caller.userId));
  });

  write('POST', '/rooms/:roomId/receipt', 'receipt', async (ctx, caller) => ({
    position: await writes.receipt(receiptInput(ctx.params, await ctx.body(), caller.userId)),
  }));

  write('PUT', '/rooms/:roomId/typing/:userId', 'typing', async (ctx, caller) => {
    const input = typingInput(ctx.params, await ctx.body(), caller.userId);
    await writes.requireMember(input.roomId, input.userId);
    await typing.set(input);
    return {};
  });

  write('PUT', '/users/:userId/account_data/:type', 'account_data', async (ctx, caller) => ({
    position: await writes.accountData(accountDataInput(ctx.params, await ctx.body(), caller.userId)),
  }));

  write('POST', '/users/:userId/to_device', 'to_device', async (ctx, caller) => ({
    position: await writes.toDevice(toDeviceInput(ctx.params, await ctx.body(), caller.userId)),
  }));

  // Readers call it with the syncing user's token: only that user's delivered messages can go.
  write('POST', '/_slotstream/to_device/delete', 'to_device_delete', async (ctx, caller) =>
    writes.deleteToDevice(toDeviceDeleteInput(await ctx.body(), caller.userId)),
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
