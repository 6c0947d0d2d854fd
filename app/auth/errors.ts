import { HttpError } from '../http/index.ts';

/**
 * The errors of authentication (401: who are you?) and authorisation (403: not yours). A 401 carries
 * `WWW-Authenticate: Bearer`, the scheme the API takes (RFC 6750).
 */

const CHALLENGE = { 'WWW-Authenticate': 'Bearer' };

/** No `Authorization: Bearer <access_token>` on a request that needs one. */
export function missingToken(
  message = 'this endpoint needs Authorization: Bearer <access_token>',
): HttpError {
  return new HttpError(401, 'M_MISSING_TOKEN', message, { headers: CHALLENGE });
}

/** A token that was never issued, or was revoked by /logout. */
export function unknownToken(): HttpError {
  return new HttpError(401, 'M_UNKNOWN_TOKEN', 'unknown or revoked access token', { headers: CHALLENGE });
}

/** The caller is known but may not do this: another user's data, or a room they have not joined. */
export function forbidden(message: string): HttpError {
  return new HttpError(403, 'M_FORBIDDEN', message);
}

/** `POST /register` for a user id that is taken. */
export function userInUse(userId: string): HttpError {
  return new HttpError(409, 'M_USER_IN_USE', `user id ${userId} is already registered`);
}
