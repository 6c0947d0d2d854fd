import type { IncomingMessage } from 'node:http';
import { bearerToken, hashAccessToken, isAccessTokenForm } from './access-token.ts';
import { missingToken, unknownToken } from './errors.ts';

/** Who sent a request: the user of its access token. */
export interface Caller {
  userId: string;
  /** The token as presented: a reader forwards it when it asks the writer to act for this user. */
  token: string;
  tokenHash: string;
}

/** The user of a live token (by its hash), or null for an unknown or revoked one. */
export type TokenLookup = (tokenHash: string) => Promise<string | null>;

/** The caller of a request, from its bearer token; 401 M_MISSING_TOKEN or M_UNKNOWN_TOKEN otherwise. */
export async function authenticate(req: IncomingMessage, lookup: TokenLookup): Promise<Caller> {
  const token = bearerToken(req);
  if (token === undefined) throw missingToken();
  if (!isAccessTokenForm(token)) throw unknownToken();
  const tokenHash = hashAccessToken(token);
  const userId = await lookup(tokenHash);
  if (userId === null) throw unknownToken();
  return { userId, token, tokenHash };
}
