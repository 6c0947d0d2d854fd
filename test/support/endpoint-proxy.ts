import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * One TCP endpoint in front of PostgreSQL servers, as clients reach a managed database: every connection
 * made to it goes to the current target. `moveTo()` points it at another server, as a failover does: new
 * connections go there, and every connection open at that moment is cut (both sides destroyed). A
 * connection whose target does not answer is closed at once, as a dead server's address would be.
 * `hold()` stops forwarding in both directions, on open connections and new ones, without closing any (a
 * stalled network path); `release()` lets everything held through, in order.
 */
export class EndpointProxy {
  readonly #server: Server;
  readonly #pairs = new Set<[Socket, Socket]>();
  /** Connections freeze() left hanging: no longer forwarded, destroyed by close(). */
  readonly #frozen = new Set<[Socket, Socket]>();
  #held = false;
  #target: { host: string; port: number };
  port = 0;
  /** Connections accepted, and how many of them reached their target. */
  readonly stats = { accepted: 0, connected: 0, cut: 0 };

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((client) => {
      this.stats.accepted++;
      const { host, port } = this.#target;
      const upstream = connect(port, host);
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      upstream.once('connect', () => {
        this.stats.connected++;
      });
      if (this.#held) {
        client.pause();
        upstream.pause();
      } else {
        client.pipe(upstream);
        upstream.pipe(client);
      }
      const drop = () => {
        this.#pairs.delete(pair);
        this.#frozen.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
  }

  /** Listens on a free port of 127.0.0.1, forwarding to the server of `url`. */
  static async start(url: string): Promise<EndpointProxy> {
    const proxy = new EndpointProxy(hostPort(url));
    proxy.port = await listenLocally(proxy.#server);
    return proxy;
  }

  /** `url` (its user, database and parameters) with its host and port replaced by the endpoint's. */
  url(url: string): string {
    return viaLocalPort(url, this.port);
  }

  /** Where new connections go. */
  get target(): { host: string; port: number } {
    return { ...this.#target };
  }

  /** New connections go to the server of `url`; every connection open now is cut. */
  moveTo(url: string): void {
    this.#target = hostPort(url);
    this.cutAll();
  }

  /** Stops forwarding, both ways, on every connection (open now or made until `release()`); closes none. */
  hold(): void {
    if (this.#held) return;
    this.#held = true;
    for (const pair of this.#pairs) stopForwarding(pair);
  }

  /**
   * A dropped network path: the connections open now stop forwarding for good, without closing (no RST, no
   * FIN), and are left to time out; connections made afterwards pass normally.
   */
  freeze(): void {
    for (const pair of this.#pairs) {
      stopForwarding(pair);
      this.#frozen.add(pair);
    }
    this.#pairs.clear();
  }

  /** Forwards again, starting with what arrived while held. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    for (const [client, upstream] of this.#pairs) {
      client.pipe(upstream);
      upstream.pipe(client);
    }
  }

  /** Destroys every open connection, both sides. */
  cutAll(): void {
    for (const [client, upstream] of this.#pairs) {
      this.stats.cut++;
      client.destroy();
      upstream.destroy();
    }
    this.#pairs.clear();
  }

  /** Stops listening and cuts every connection, frozen ones included. */
  async close(): Promise<void> {
    this.cutAll();
    for (const [client, upstream] of this.#frozen) {
      client.destroy();
      upstream.destroy();
    }
    this.#frozen.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function stopForwarding([client, upstream]: [Socket, Socket]): void {
  client.unpipe(upstream);
  upstream.unpipe(client);
  client.pause();
  upstream.pause();
}

/** Listens on a free port of 127.0.0.1; resolves with the port. */
export async function listenLocally(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** `url` (its user, database and parameters) with its host and port replaced by 127.0.0.1:`port`. */
export function viaLocalPort(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 5432) };
}
