import { UsageError } from 'slotstream/cli';
import { REGISTRATION_TOKEN_ENV } from '../auth/registration-token.ts';

/** Short enough to guess is too short to close registration with. */
const MIN_REGISTRATION_TOKEN = 16;

/**
 * The registration token of `--registration-token`, else of $SLOTSTREAM_REGISTRATION_TOKEN (which keeps it
 * off the process list), else none: registration is open. Refused before anything starts when too short.
 */
export function registrationTokenOption(
  option: string | undefined,
  env: NodeJS.ProcessEnv,
): string | undefined {
  const token = option ?? (env[REGISTRATION_TOKEN_ENV] || undefined);
  if (token !== undefined && (token.length < MIN_REGISTRATION_TOKEN || /\s/.test(token)))
    throw new UsageError(
      `the registration token (--registration-token or ${REGISTRATION_TOKEN_ENV}) must be at least ${MIN_REGISTRATION_TOKEN} characters, without spaces`,
    );
  return token;
}
