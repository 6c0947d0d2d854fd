/**
 * The HTTP server of a writer or reader process: `node:http`, a Router, one log line per request, and a
 * graceful `close()` that ends long-polls through their signals instead of cutting them off.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Connections } from './connections.ts';
import { HttpError, RequestAbortedError, toHttpError } from './errors.ts';
import { writeError, writeResult } from './respond.ts';
import type { Router } from './router.ts';

/** The logger methods the server uses; any pino logger fits. */
export type HttpLogger = Pick<Logger, 'debug' | 'warn' | 'error'>;

export interface HttpServerOptions {
  router: Router;
  logger: HttpLogger;
  /** Loopback unless configured: admin and metrics endpoints are not for the network by default. */
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** How long `close()` lets in-flight requests finish before destroying their sockets. */
  shutdownGraceMs?: number;
  /** Timeouts on receiving requests and on idle connections; DEFAULT_HTTP_TIMEOUTS for those not given. */
  timeouts?: Partial<HttpTimeouts>;
}

/**
 * How long a client may take to send a request, and to send the next one. Node answers a request that is too
 * slow with 408 and closes its socket, so a client dribbling bytes (or opening sockets and sending nothing)
 * cannot hold sockets and memory for ever.
 */
export interface HttpTimeouts {
  /** From a new connection, or the start of a kept-alive connection's next request, to the end of the headers. */
  headersMs: number;
  /**
   * From there to the end of the body. Receiving only: once the request is in, its answer may take as long
   * as it takes, so a long-poll /sync (up to TIMEOUT_BOUNDS.max) is not cut by it.
   */
  requestMs: number;
  /** How long a kept-alive connection may sit idle between an answer and the next request. */
  keepAliveMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  headersMs: 10_000,
  requestMs: 30_000,
  keepAliveMs: 5_000,
};

export interface HttpServer {
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  readonly port: number;
  /** Graceful shutdown; resolves once every connection is closed. Calling it again gives the same promise. */
  close(): Promise<void>;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_SHUTDOWN_GRACE_MS = 5000;

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { router, logger, host = DEFAULT_HOST, port, shutdownGraceMs = DEFAULT_SHUTDOWN_GRACE_MS } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new RangeError(`port must be an integer from 0 to 65535, got ${port}`);

  /** One controller per request still being handled: shutdown aborts them all. */
  const inFlight = new Set<AbortController>();
  const connections = new Connections();
  let closing: Promise<void> | undefined;

  const timeouts = { ...DEFAULT_HTTP_TIMEOUTS, ...options.timeouts };
  if (timeouts.headersMs > timeouts.requestMs)
    throw new RangeError(
      `the headers timeout (${timeouts.headersMs} ms) must not exceed the request timeout (${timeouts.requestMs} ms)`,
    );
  const server = createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      // How often node looks for requests past their timeouts: its default (30 s) would let a 10 s timeout
      // run to 40 s.
      connectionsCheckingInterval: Math.min(1_000, timeouts.headersMs),
    },
    (req, res) => {
      void handle(req, res);
    },
  );
  server.keepAliveTimeout = timeouts.keepAliveMs;
  server.on('connection', (socket) => connections.add(socket));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const controller = new AbortController();
    inFlight.add(controller);
    const socket = req.socket;
    connections.requestStarted(socket);
    res.once('close', () => {
      // Before the response finished, 'close' means the connection went away (the client gave up, or the
      // socket was destroyed): abort, so that a long-poll frees its waiter rather than wait for nobody.
      if (!res.writableFinished) controller.abort(new RequestAbortedError('client-closed'));
      connections.requestEnded(socket);
    });
    // A request that arrives on a kept-alive connection after close() began still gets an answer, at once.
    if (closing) controller.abort(new RequestAbortedError('shutdown'));

    let failure: HttpError | undefined;
    try {
      const result = await router.dispatch(req, res, controller.signal);
      if (result && !res.headersSent && !res.destroyed) writeResult(res, result, finalHeaders(req));
    } catch (err) {
      failure = toHttpError(err);
      if (!res.headersSent && !res.destroyed) {
        try {
          writeError(res, failure, finalHeaders(req));
        } catch (writeErr) {
          logger.error({ err: writeErr, method: req.method, url: req.url }, 'could not write error response');
          res.destroy();
        }
      }
      logFailure(req, err, failure);
    } finally {
      inFlight.delete(controller);
    }
    logger.debug(
      {
        method: req.method,
        url: req.url,
        status: res.headersSent ? res.statusCode : undefined,
        code: res.headersSent ? failure?.code : undefined,
        ms: Math.round(performance.now() - started),
        aborted: controller.signal.aborted
          ? (controller.signal.reason as RequestAbortedError).why
          : undefined,
      },
      'request',
    );
  }

  /**
   * `Connection: close` when the socket should not carry another request: during shutdown, and when the
   * handler did not read the whole body (reading the rest just to reuse the socket could take forever).
   */
  function finalHeaders(req: IncomingMessage): Record<string, string> {
    return closing || !req.complete ? { Connection: 'close' } : {};
  }

  function logFailure(req: IncomingMessage, err: unknown, failure: HttpError): void {
    const where = { method: req.method, url: req.url, status: failure.status, code: failure.code };
    if (err instanceof RequestAbortedError) return; // expected: the debug line says it was aborted
    if (!(err instanceof HttpError)) logger.error({ ...where, err }, 'request failed');
    // A 5xx the handler chose (503, a 504 wait timeout) is the service saying no, not a bug.
    else if (err.status >= 500) logger.warn({ ...where, err }, 'request answered with a server error');
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new Error(
          `cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use by another process; stop it or choose another port' : err.message}`,
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // After listening, a server error (EMFILE on accept, …) is logged rather than crashing the process.
  server.on('error', (err) => logger.error({ err }, 'HTTP server error'));

  const bound = (server.address() as AddressInfo).port;

  function close(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      // Stop accepting. The callback runs once every connection is gone.
      server.close(() => resolve());
      // Idle connections close now, busy ones once their answer is sent (which says `Connection: close`).
      connections.drain();
      // Long-polls answer now (their waits reject with the reason); other requests finish on their own.
      for (const controller of inFlight) controller.abort(new RequestAbortedError('shutdown'));
      const timer = setTimeout(() => {
        logger.warn(
          { busy: connections.busy },
          'shutdown grace period over: closing the remaining connections',
        );
        connections.destroyAll();
      }, shutdownGraceMs);
      timer.unref();
      server.once('close', () => clearTimeout(timer));
    });
    return closing;
  }

  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`, port: bound, close };
}
