import { connect, createServer, type Server, type Socket } from 'node:net';
import { hostPort, listenLocally, viaLocalPort } from './endpoint-proxy.ts';

/** Backend message types (PostgreSQL frontend/backend protocol) the injector looks for. */
const COPY_BOTH_RESPONSE = 0x57; // 'W': the walsender starts streaming
const COPY_DATA = 0x64; // 'd'

/**
 * A TCP proxy in front of PostgreSQL that adds one CopyData message of its own to every replication stream,
 * right after the server's CopyBothResponse: bytes no real server would send (a short keepalive, a frame of
 * an unknown kind), for testing what a subscription does with them. Everything else passes unchanged. The
 * server-to-client bytes are cut at message boundaries (type byte, then a length that counts itself), which
 * holds for every connection that does not ask for TLS: the tests' do not.
 */
export class FrameInjector {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;
  /** Replication streams the frame was added to. */
  injected = 0;

  private constructor(target: { host: string; port: number }, frame: Buffer) {
    const message = Buffer.alloc(5 + frame.length);
    message[0] = COPY_DATA;
    message.writeInt32BE(4 + frame.length, 1);
    frame.copy(message, 5);
    this.#server = createServer((client) => {
      const upstream = connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('error', () => {}).on('close', () => this.#sockets.delete(socket));
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      let pending: Buffer = Buffer.alloc(0);
      upstream.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        let end = 0;
        const out: Buffer[] = [];
        while (pending.length - end >= 5) {
          const next = end + 1 + pending.readInt32BE(end + 1);
          if (next > pending.length) break;
          out.push(pending.subarray(end, next));
          if (pending[end] === COPY_BOTH_RESPONSE) {
            out.push(message);
            this.injected++;
          }
          end = next;
        }
        pending = pending.subarray(end);
        if (out.length > 0) client.write(Buffer.concat(out));
      });
    });
  }

  /** Listens on a free port of 127.0.0.1, forwarding to the server of `url` and adding `frame`. */
  static async start(url: string, frame: Buffer): Promise<FrameInjector> {
    const injector = new FrameInjector(hostPort(url), frame);
    injector.port = await listenLocally(injector.#server);
    return injector;
  }

  /** `url` with its host and port replaced by the injector's. */
  url(url: string): string {
    return viaLocalPort(url, this.port);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
