import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { missingToken } from './errors.ts';

/** 256 random bits: guessing one is out of reach. */
const TOKEN_BYTES = 32;
/** What newAccessToken makes: base64url without padding. Anything else is unknown without a lookup. */
const TOKEN_FORM = /^[A-Za-z0-9_-]{43}$/;
const BEARER = /^Bearer +(\S+) *$/i;

/** A new access token: 32 random bytes, base64url (43 characters). */
export function newAccessToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/**
 * What the database stores of a token: its SHA-256, hex. A plain hash (no salt, no slow KDF) is enough for
 * 256 random bits, and it keeps a lookup one indexed equality.
 */
export function hashAccessToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Whether `token` has the form of an access token. */
export function isAccessTokenForm(token: string): boolean {
  return TOKEN_FORM.test(token);
}

/**
 * The token of `Authorization: Bearer <token>`, or undefined when the request has no Authorization header.
 * Any other form of the header (another scheme, no token) is refused: M_MISSING_TOKEN.
 */
export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = BEARER.exec(header);
  if (!match?.[1]) throw missingToken('the Authorization header must be "Bearer <access_token>"');
  return match[1];
}
