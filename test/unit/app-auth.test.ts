/** app/auth: bearer tokens, their form and hash, the acting user, the registration token. */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import {
  bearerToken,
  hashAccessToken,
  isAccessTokenForm,
  newAccessToken,
} from '../../app/auth/access-token.ts';
import { actingUser } from '../../app/auth/acting-user.ts';
import { authenticate } from '../../app/auth/authenticate.ts';
import { requireRegistrationToken } from '../../app/auth/registration-token.ts';
import { registrationTokenOption } from '../../app/cli/registration-option.ts';
import { HttpError } from '../../app/http/index.ts';

/** A request with these headers: all the auth code reads of one. */
const withAuthorization = (authorization?: string) =>
  ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;

/** The function must throw an HttpError of this status and code. */
function refuses(fn: () => unknown, status: number, code: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof HttpError, String(error));
    assert.deepEqual([error.status, error.code], [status, code]);
    return true;
  });
}

test('access tokens: 43 base64url characters, each new; stored as a SHA-256 in hex', () => {
  const tokens = new Set(Array.from({ length: 100 }, newAccessToken));
  assert.equal(tokens.size, 100);
  for (const token of tokens) assert.ok(isAccessTokenForm(token), token);
  const [token] = tokens as Set<string>;
  assert.match(hashAccessToken(token as string), /^[0-9a-f]{64}$/);
  assert.equal(hashAccessToken(token as string), hashAccessToken(token as string));
  assert.equal(isAccessTokenForm(`${token}=`), false);
  assert.equal(isAccessTokenForm('short'), false);
});

test('the bearer token of a request: none without the header, M_MISSING_TOKEN for another form', () => {
  assert.equal(bearerToken(withAuthorization()), undefined);
  assert.equal(bearerToken(withAuthorization('Bearer abc')), 'abc');
  assert.equal(bearerToken(withAuthorization('bearer  abc ')), 'abc');
  for (const header of ['Basic YTpi', 'Bearer', 'Bearer ', 'Bearer a b', 'abc'])
    refuses(() => bearerToken(withAuthorization(header)), 401, 'M_MISSING_TOKEN');
});

test('authenticate: the caller of a live token; 401 without one, or with an unknown one', async () => {
  const token = newAccessToken();
  const users = new Map([[hashAccessToken(token), '@alice:test']]);
  const lookup = async (hash: string) => users.get(hash) ?? null;
  assert.deepEqual(await authenticate(withAuthorization(`Bearer ${token}`), lookup), {
    userId: '@alice:test',
    token,
    tokenHash: hashAccessToken(token),
  });
  const rejects = (header: string | undefined, code: string) =>
    assert.rejects(authenticate(withAuthorization(header), lookup), { status: 401, code });
  await rejects(undefined, 'M_MISSING_TOKEN');
  await rejects(`Bearer ${newAccessToken()}`, 'M_UNKNOWN_TOKEN');
  await rejects('Bearer not-a-token', 'M_UNKNOWN_TOKEN');
});

test('the acting user is the caller: left out, or named; anyone else is 403, a malformed id 400', () => {
  assert.equal(actingUser(undefined, 'sender', '@a:test', 'body'), '@a:test');
  assert.equal(actingUser('@a:test', 'sender', '@a:test', 'body'), '@a:test');
  refuses(() => actingUser('@b:test', 'sender', '@a:test', 'body'), 403, 'M_FORBIDDEN');
  refuses(() => actingUser('@b:test', 'userId', '@a:test', 'param'), 403, 'M_FORBIDDEN');
  refuses(() => actingUser('a', 'sender', '@a:test', 'body'), 400, 'M_BAD_JSON');
  refuses(() => actingUser(null, 'sender', '@a:test', 'body'), 400, 'M_BAD_JSON');
  refuses(() => actingUser('a', 'userId', '@a:test', 'param'), 400, 'M_INVALID_PARAM');
});

test('registration: open without a registration token; closed, only its bearer registers', () => {
  const admin = 'the-registration-token';
  requireRegistrationToken(withAuthorization(), undefined);
  requireRegistrationToken(withAuthorization('Bearer whatever'), undefined);
  requireRegistrationToken(withAuthorization(`Bearer ${admin}`), admin);
  refuses(() => requireRegistrationToken(withAuthorization(), admin), 401, 'M_MISSING_TOKEN');
  refuses(() => requireRegistrationToken(withAuthorization(`Bearer ${admin}x`), admin), 403, 'M_FORBIDDEN');
  refuses(
    () => requireRegistrationToken(withAuthorization(`Bearer ${newAccessToken()}`), admin),
    403,
    'M_FORBIDDEN',
  );
});

test('the registration token option: the flag, else the environment; a short one is refused', () => {
  const env = { SLOTSTREAM_REGISTRATION_TOKEN: 'from-the-environment' };
  assert.equal(registrationTokenOption(undefined, {}), undefined);
  assert.equal(registrationTokenOption(undefined, { SLOTSTREAM_REGISTRATION_TOKEN: '' }), undefined);
  assert.equal(registrationTokenOption(undefined, env), 'from-the-environment');
  assert.equal(registrationTokenOption('from-the-command-line', env), 'from-the-command-line');
  assert.throws(() => registrationTokenOption('short', {}), /at least 16 characters/);
  assert.throws(() => registrationTokenOption('sixteen chars or more', {}), /without spaces/);
});
