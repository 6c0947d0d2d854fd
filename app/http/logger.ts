/**
 * Structured logs: one JSON object per line, so a log shipper (or `jq`) can filter by field instead of
 * parsing prose. `LOG_LEVEL` picks the level (default `info`); `debug` adds one line per HTTP request.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  /** Overrides `LOG_LEVEL`. */
  level?: string;
  /** Where the lines go; stdout when absent. Tests pass a stream that collects them. */
  destination?: DestinationStream;
}

/** A logger whose lines carry `"name": name` (e.g. `writer`, `reader_1`) and an ISO `time`. */
export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  // pino's own error for an unknown level does not say where the level came from.
  if (!LEVELS.includes(level))
    throw new Error(
      `invalid log level ${JSON.stringify(level)} (LOG_LEVEL): use one of ${LEVELS.join(', ')}`,
    );
  return pino({ name, level, timestamp: pino.stdTimeFunctions.isoTime }, options.destination);
}
