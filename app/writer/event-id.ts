import { randomBytes } from 'node:crypto';

/**
 * A new event id: `$` and 24 base64url characters (18 random bytes, 144 bits). base64url's alphabet
 * (`A-Z a-z 0-9 - _`) has no `/` or `:`, so the id travels in URL paths as it is and passes validateEventId.
 */
export function newEventId(): string {
  return `$${randomBytes(18).toString('base64url')}`;
}
