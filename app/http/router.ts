/**
 * A tiny router: `route('POST', '/rooms/:roomId/send', handler)`. A path is matched segment by segment
 * *before* percent-decoding, so an encoded `/` inside an id (`%2F`) stays inside its parameter; literal
 * segments must match exactly. Routes are tried in the order they were added and the first match wins.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_BODY_BYTES, readJsonBody } from './body.ts';
import { invalidParam, methodNotAllowed, notFound } from './errors.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/** What a handler gets. */
export interface RequestContext {
  /** Path parameters, percent-decoded: `{roomId: '!abc:example.org'}`. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The body as JSON, read on the first call (64 KiB at most by default); later calls give the same. */
  body: () => Promise<unknown>;
  /**
   * Aborts when the client disconnects before the response is sent, or when the server shuts down; its
   * `reason` is a RequestAbortedError. Pass it to anything that waits (long-polls) so the waiter is freed.
   */
  signal: AbortSignal;
  req: IncomingMessage;
  /** For handlers that write the response themselves; they then return `undefined`. */
  res: ServerResponse;
}

/** A JSON response; `body` is serialised with bigints as strings. */
export interface JsonResult {
  status?: number;
  headers?: Record<string, string>;
  body: unknown;
}

/** A non-JSON response, such as Prometheus metrics. */
export interface TextResult {
  status?: number;
  headers?: Record<string, string>;
  text: string;
  contentType: string;
}

export type HandlerResult = JsonResult | TextResult;

/** Returns the response, or throws an HttpError; `undefined` only when it wrote to `res` itself. */
export type Handler = (ctx: RequestContext) => HandlerResult | undefined | Promise<HandlerResult | undefined>;

interface Route {
  method: Method;
  pattern: string;
  /** One entry per path segment: a literal, or `{param}` for `:param`. */
  segments: (string | { param: string })[];
  handler: Handler;
}

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class Router {
  readonly #routes: Route[] = [];
  readonly #maxBodyBytes: number;

  constructor(options: { maxBodyBytes?: number } = {}) {
    this.#maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  }

  /** Adds a route. A malformed pattern or a duplicate is a programming error and throws at once. */
  route(method: Method, pattern: string, handler: Handler): this {
    if (!pattern.startsWith('/')) throw new Error(`route pattern must start with '/': ${pattern}`);
    const segments = pattern
      .slice(1)
      .split('/')
      .map((segment) => {
        if (!segment.startsWith(':')) return segment;
        const param = segment.slice(1);
        if (!PARAM_NAME.test(param)) throw new Error(`bad parameter name ':${param}' in route ${pattern}`);
        return { param };
      });
    const names = segments.flatMap((s) => (typeof s === 'string' ? [] : [s.param]));
    if (new Set(names).size !== names.length) throw new Error(`repeated parameter name in route ${pattern}`);
    if (this.#routes.some((r) => r.method === method && r.pattern === pattern))
      throw new Error(`route ${method} ${pattern} is already defined`);
    this.#routes.push({ method, pattern, segments, handler });
    return this;
  }

  /**
   * Finds the route for a request and runs its handler. Throws M_NOT_FOUND (unknown path), M_UNRECOGNIZED
   * (known path, other method; `Allow` says which), M_INVALID_PARAM (a parameter that does not decode),
   * or whatever the handler throws.
   */
  async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    signal: AbortSignal,
  ): Promise<HandlerResult | undefined> {
    const { path, search } = splitTarget(req.url ?? '/');
    const method = req.method ?? 'GET';
    const matches: { route: Route; raw: Record<string, string> }[] = [];
    for (const route of this.#routes) {
      const raw = matchSegments(route.segments, path);
      if (raw) matches.push({ route, raw });
    }
    if (matches.length === 0) throw notFound(path);
    const match = matches.find((m) => m.route.method === method);
    if (!match) throw methodNotAllowed(method, path, [...new Set(matches.map((m) => m.route.method))]);

    let body: Promise<unknown> | undefined;
    return match.route.handler({
      params: decodeParams(match.raw),
      query: new URLSearchParams(search),
      body: () => {
        body ??= readJsonBody(req, this.#maxBodyBytes);
        return body;
      },
      signal,
      req,
      res,
    });
  }
}

/**
 * The path and query of a request target. Split by hand rather than with `new URL`, which would resolve
 * `%2e%2e` as `..` and so move an encoded id out of its segment.
 */
function splitTarget(target: string): { path: string; search: string } {
  let rest = target;
  if (!rest.startsWith('/')) {
    // The absolute form (`GET http://host/path`), which proxies send; '*' and junk become a 404.
    try {
      const url = new URL(rest);
      rest = url.pathname + url.search;
    } catch {
      return { path: rest, search: '' };
    }
  }
  const q = rest.indexOf('?');
  return q === -1 ? { path: rest, search: '' } : { path: rest.slice(0, q), search: rest.slice(q + 1) };
}

/** The raw (still encoded) parameters when the path matches, else undefined. Empty segments never match a parameter. */
function matchSegments(segments: Route['segments'], path: string): Record<string, string> | undefined {
  if (!path.startsWith('/')) return undefined;
  const parts = path.slice(1).split('/');
  if (parts.length !== segments.length) return undefined;
  const raw: Record<string, string> = {};
  for (const [i, segment] of segments.entries()) {
    const part = parts[i] as string;
    if (typeof segment === 'string') {
      if (part !== segment) return undefined;
    } else {
      if (part === '') return undefined;
      raw[segment.param] = part;
    }
  }
  return raw;
}

function decodeParams(raw: Record<string, string>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      // A stray '%', or escapes that are not UTF-8 (%FF).
      throw invalidParam(
        `path parameter ${name} is not valid percent-encoded UTF-8: ${JSON.stringify(value)}`,
      );
    }
  }
  return params;
}
