import { UsageError } from 'slotstream/cli';
import { DEFAULT_HOST } from '../http/server.ts';

/** `--port` and `--host`, shared by the commands that serve HTTP (`writer`, `reader`), for parseArgs. */
export function listenOptions(defaultPort: number) {
  return {
    port: { type: 'string', default: String(defaultPort) },
    host: { type: 'string', default: DEFAULT_HOST },
  } as const;
}

export function listenUsage(defaultPort: number): string[] {
  return [
    `  --port P            port to listen on; default ${defaultPort} (0: any free port)`,
    `  --host H            address to listen on; default ${DEFAULT_HOST} (loopback only)`,
  ];
}

/** A port from the command line; refused before anything starts. */
export function parsePort(text: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535)
    throw new UsageError(`--port must be a port number from 0 to 65535, got ${JSON.stringify(text)}`);
  return Number(text);
}
