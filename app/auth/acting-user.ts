import { type Source, validateUserId } from '../http/index.ts';
import { forbidden } from './errors.ts';

/**
 * The user a request acts for: always the caller. A request may name them (a body's `sender` or `user_id`,
 * /sync's `user_id`, a path's `:userId`) or leave it out; naming anyone else is 403 M_FORBIDDEN. A malformed id is still a 400
 * from the validator, as it was before authentication.
 */
export function actingUser(value: unknown, field: string, callerId: string, source: Source): string {
  if (value === undefined) return callerId;
  const userId = validateUserId(value, field, source);
  if (userId !== callerId)
    throw forbidden(
      `${field} is ${userId}, but this access token is ${callerId}'s: a user acts only for themselves`,
    );
  return userId;
}
