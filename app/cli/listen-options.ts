import { UsageError } from 'slotstream/cli';
import { DEFAULT_HOST, DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts } from '../http/server.ts';

/**
 * `--port`, `--host` and the request timeouts, shared by the commands that serve HTTP (`writer`, `reader`),
 * for parseArgs.
 */
export function listenOptions(defaultPort: number) {
  return {
    port: { type: 'string', default: String(defaultPort) },
    host: { type: 'string', default: DEFAULT_HOST },
    'headers-timeout': { type: 'string', default: String(DEFAULT_HTTP_TIMEOUTS.headersMs) },
    'request-timeout': { type: 'string', default: String(DEFAULT_HTTP_TIMEOUTS.requestMs) },
  } as const;
}

export function listenUsage(defaultPort: number): string[] {
  return [
    `  --port P            port to listen on; default ${defaultPort} (0: any free port)`,
    `  --host H            address to listen on; default ${DEFAULT_HOST} (loopback only)`,
    '  --headers-timeout MS',
    `                      a client's time to send a request's headers; default ${DEFAULT_HTTP_TIMEOUTS.headersMs}`,
    '  --request-timeout MS',
    `                      a client's time to send a whole request, default ${DEFAULT_HTTP_TIMEOUTS.requestMs} (not its answer:`,
    '                      long-polls run longer). A slower client gets 408 and its connection is closed',
  ];
}

/** A port from the command line; refused before anything starts. */
export function parsePort(text: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535)
    throw new UsageError(`--port must be a port number from 0 to 65535, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** The request timeouts from the command line; refused before anything starts. */
export function parseTimeouts(values: {
  'headers-timeout': string;
  'request-timeout': string;
}): Pick<HttpTimeouts, 'headersMs' | 'requestMs'> {
  const headersMs = milliseconds('headers-timeout', values['headers-timeout']);
  const requestMs = milliseconds('request-timeout', values['request-timeout']);
  if (headersMs > requestMs)
    throw new UsageError(`--headers-timeout (${headersMs}) must not exceed --request-timeout (${requestMs})`);
  return { headersMs, requestMs };
}

/** A number of milliseconds from 1 given as `--option`; refused before anything starts. */
export function milliseconds(option: string, text: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(text))
    throw new UsageError(`--${option} must be a number of milliseconds from 1, got ${JSON.stringify(text)}`);
  return Number(text);
}
