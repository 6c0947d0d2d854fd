/**
 * Registration and logout, and the writer's own check of access tokens. Tokens live in the access_tokens
 * stream (one row per user, the token's SHA-256 only), written through the StreamWriter like any stream row,
 * so each has a position: a logout's position, passed to a reader's `/wait`, is where that reader stops
 * accepting the token.
 */
import { type StreamWriter, sqlState } from 'slotstream';
import { hashAccessToken, newAccessToken } from '../auth/access-token.ts';
import type { TokenLookup } from '../auth/authenticate.ts';
import { userInUse } from '../auth/errors.ts';
import { accessTokensStream } from '../streams.ts';
import { BatchedLookup } from './batched-lookup.ts';

export interface Registered {
  user_id: string;
  /** Given out once, here: only its hash is stored. */
  access_token: string;
  /** The registration's position: `/wait` on a reader for it before using the token there, if that reader may lag. */
  position: bigint;
}

export class Accounts {
  /** Concurrent requests' tokens, looked up together: one query per batch (BatchedLookup). */
  readonly #tokens: BatchedLookup<string, string | null>;

  constructor(readonly writer: StreamWriter) {
    this.#tokens = new BatchedLookup(
      async (hashes) => {
        const { rows } = await writer.knex.raw<{ rows: { token_hash: string; user_id: string }[] }>(
          'SELECT token_hash, user_id FROM access_tokens WHERE token_hash = ANY(?::text[]) AND NOT revoked',
          [hashes],
        );
        const users = new Map(rows.map((row) => [row.token_hash, row.user_id]));
        return (hash) => users.get(hash) ?? null;
      },
      (hash) => hash,
    );
  }

  /**
   * A new user and their access token; 409 M_USER_IN_USE when the user id is taken (by the table's primary
   * key: two registrations at once, batched together or not, cannot both succeed).
   */
  async register(userId: string): Promise<Registered> {
    const token = newAccessToken();
    try {
      const { position } = await this.writer.transaction((tx) => {
        tx.insert(accessTokensStream, {
          user_id: userId,
          token_hash: hashAccessToken(token),
          revoked: false,
        });
      });
      return { user_id: userId, access_token: token, position };
    } catch (error) {
      if (sqlState(error) === '23505') throw userInUse(userId);
      throw error;
    }
  }

  /**
   * Revokes the token. Its row stays (the user id stays taken), marked revoked: an update readers apply at the
   * returned position, which drops the token from their caches.
   */
  async logout(tokenHash: string): Promise<bigint> {
    const { position } = await this.writer.transaction((tx) =>
      tx.knex('access_tokens').where({ token_hash: tokenHash }).update({ revoked: true }),
    );
    return position;
  }

  /**
   * The user of a live token, from the database: the writer keeps no cache, so a logout counts at once (a
   * lookup sent after the logout committed cannot see the token live).
   */
  readonly userForToken: TokenLookup = (tokenHash) => this.#tokens.get(tokenHash);
}
