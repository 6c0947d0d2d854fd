/**
 * Reading a request body as JSON, with a byte limit. The limit is checked against Content-Length before
 * anything is read and again as bytes arrive (a chunked upload declares no length), so an oversized upload
 * is refused at once instead of being buffered first.
 */
import type { IncomingMessage } from 'node:http';
import { notJson, RequestAbortedError, tooLarge } from './errors.ts';

/** 64 KiB: the largest body the reference application accepts (docs/http-api.md). */
export const MAX_BODY_BYTES = 65_536;

/**
 * The body parsed as JSON. Rejects with M_TOO_LARGE (400, `Connection: close`) past `limit` bytes,
 * M_NOT_JSON when the body is empty, not UTF-8 or not JSON, and RequestAbortedError when the client goes
 * away mid-upload. Call it at most once per request (the router's `body()` remembers the result).
 */
export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const bytes = await readBody(req, limit);
  let text: string;
  try {
    // fatal: invalid UTF-8 is an error rather than silently becoming U+FFFD inside the stored JSON.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw notJson('request body is not valid UTF-8');
  }
  if (text.trim() === '') throw notJson('request body is empty; this endpoint takes a JSON body');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw notJson(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** The raw body, up to `limit` bytes. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  // Node has already rejected a malformed Content-Length, so this is a number when present.
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit) {
    discardRest(req);
    return Promise.reject(tooLarge(limit));
  }
  // The client left while the handler was busy elsewhere: its 'close' has fired already and would not again.
  if (req.destroyed) return Promise.reject(new RequestAbortedError('client-closed'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      cleanup();
      discardRest(req);
      reject(tooLarge(limit));
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    // 'close' without 'end' (or an 'error' such as ECONNRESET): the client gave up mid-upload.
    const onGone = () => {
      cleanup();
      reject(new RequestAbortedError('client-closed'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onGone);
  });
}

/**
 * Reads what is left of a refused upload and throws it away. The answer carries `Connection: close`, so the
 * socket is closed right after it is sent; until then, draining beats leaving bytes unread, because a socket
 * closed with unread data answers with a TCP reset, which can make a client lose the 400 it was sent.
 */
function discardRest(req: IncomingMessage): void {
  req.resume();
}
