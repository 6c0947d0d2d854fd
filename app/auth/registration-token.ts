import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { bearerToken, hashAccessToken } from './access-token.ts';
import { forbidden, missingToken } from './errors.ts';

/** Where the writer (and `slotstream start`) read the registration token when no option gives it. */
export const REGISTRATION_TOKEN_ENV = 'SLOTSTREAM_REGISTRATION_TOKEN';

/**
 * Registration is open when the writer has no registration token (the demo's default); with one, only a
 * request bearing it may register users: 401 M_MISSING_TOKEN without a bearer token, 403 M_FORBIDDEN with
 * another one (a user's access token included).
 */
export function requireRegistrationToken(req: IncomingMessage, registrationToken: string | undefined): void {
  if (registrationToken === undefined) return;
  const given = bearerToken(req);
  if (given === undefined)
    throw missingToken(
      'registration is closed: POST /register needs Authorization: Bearer <registration token>',
    );
  if (!sameSecret(given, registrationToken))
    throw forbidden('registration is closed: only the registration token may register users');
}

/** Compared in constant time (as hashes, of equal length whatever was sent), so timing tells nothing. */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(
    Buffer.from(hashAccessToken(given), 'hex'),
    Buffer.from(hashAccessToken(expected), 'hex'),
  );
}
