/**
 * The server's open connections and whether each is busy with a request, for a graceful shutdown.
 *
 * Node's own `server.close()` closes idle keep-alive connections, but not one that was opened and has not
 * sent a request yet — and fetch (undici) opens exactly such a spare connection after an aborted request.
 * Such a socket would hold `close()` until the client's keep-alive timer ends it, so it is tracked here.
 */
import type { Socket } from 'node:net';

export class Connections {
  /** Every open socket, with the number of its requests not yet answered (pipelining allows several). */
  readonly #requests = new Map<Socket, number>();
  #draining = false;

  add(socket: Socket): void {
    this.#requests.set(socket, 0);
    socket.once('close', () => this.#requests.delete(socket));
  }

  requestStarted(socket: Socket): void {
    const requests = this.#requests.get(socket);
    if (requests !== undefined) this.#requests.set(socket, requests + 1);
  }

  /** The response is sent (or the connection died). While draining, a socket with nothing left ends. */
  requestEnded(socket: Socket): void {
    const requests = this.#requests.get(socket);
    if (requests === undefined) return; // already closed
    const left = requests - 1;
    this.#requests.set(socket, left);
    // end(), not destroy(): the response may still be on its way out; end() sends it, then FIN.
    if (this.#draining && left === 0) socket.end();
  }

  /** From now on, sockets close as soon as they are idle; those idle already are closed at once. */
  drain(): void {
    this.#draining = true;
    for (const [socket, requests] of this.#requests) if (requests === 0) socket.destroy();
  }

  /** The grace period is over: close everything, busy or not. */
  destroyAll(): void {
    for (const socket of this.#requests.keys()) socket.destroy();
  }

  get busy(): number {
    let busy = 0;
    for (const requests of this.#requests.values()) if (requests > 0) busy++;
    return busy;
  }
}
