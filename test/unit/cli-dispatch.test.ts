import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from 'node:util';
import { type Command, UsageError } from '../../src/cli/command.ts';
import { chooseConnection, redact } from '../../src/cli/connection.ts';
import { dispatch, type Io } from '../../src/cli/dispatch.ts';
import { formatError } from '../../src/cli/report-error.ts';

/** A fake process: what the dispatcher printed, and the code it chose. */
async function run(argv: string[], commands: Command[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t), env };
  const code = await dispatch(argv, commands, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function command(name: string, run: Command['run']): Command {
  return { name, summary: `does ${name}`, usage: `usage: slotstream ${name} [--flag]`, run };
}

const calls: string[][] = [];
const echo = command('echo', async (argv) => {
  calls.push(argv);
  const { values } = parseArgs({ args: argv, options: { flag: { type: 'boolean' } }, strict: true });
  return values.flag ? 7 : undefined;
});

test('--help, -h and help list every command on stdout', async () => {
  for (const argv of [['--help'], ['-h'], ['help']]) {
    const r = await run(argv, [echo, command('other', async () => undefined)]);
    assert.equal(r.code, 0);
    assert.match(r.out, /^usage: slotstream <command>/);
    assert.match(r.out, /\n {2}echo {3}does echo\n {2}other {2}does other/);
  }
});

test('no command prints the overview on stderr and exits 2', async () => {
  const r = await run([], [echo]);
  assert.equal(r.code, 2);
  assert.match(r.err, /usage: slotstream <command>/);
});

test('an unknown command, or an option before the command, is a usage error (exit 2)', async () => {
  const unknown = await run(['nope'], [echo]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /^error: unknown command 'nope'/);
  const early = await run(['--database-url', 'x', 'echo'], [echo]);
  assert.equal(early.code, 2);
  assert.match(early.err, /options go after the command/);
});

test('help NAME and NAME --help print the usage without running the command', async () => {
  calls.length = 0;
  for (const argv of [
    ['help', 'echo'],
    ['echo', '--help'],
    ['echo', '--flag', '-h'],
  ]) {
    const r = await run(argv, [echo]);
    assert.equal(r.code, 0);
    assert.equal(r.out, 'usage: slotstream echo [--flag]');
  }
  assert.deepEqual(calls, []);
  assert.equal((await run(['help', 'nope'], [echo])).code, 2);
});

test('the command gets the arguments after its name; its result is the exit code', async () => {
  calls.length = 0;
  assert.equal((await run(['echo'], [echo])).code, 0);
  assert.equal((await run(['echo', '--flag'], [echo])).code, 7);
  assert.deepEqual(calls, [[], ['--flag']]);
});

test('parseArgs rejections and UsageError exit 2 with the usage', async () => {
  const bad = await run(['echo', '--nope'], [echo]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^error: Unknown option '--nope'/);
  assert.match(bad.err, /usage: slotstream echo/);
  const usage = await run(
    ['u'],
    [
      command('u', async () => {
        throw new UsageError('--a and --b exclude each other');
      }),
    ],
  );
  assert.equal(usage.code, 2);
  assert.match(usage.err, /^error: --a and --b exclude each other\n\nusage: slotstream u/);
});

test('a failing command prints error: MESSAGE with the SQLSTATE, no stack, and exits 1', async () => {
  const failing = command('f', async () => {
    throw Object.assign(new Error('relation "events" does not exist'), { code: '42P01', hint: 'migrate' });
  });
  const r = await run(['f'], [failing]);
  assert.equal(r.code, 1);
  assert.equal(r.err, 'error: relation "events" does not exist (SQLSTATE 42P01)\nhint: migrate');
  const debug = await run(['f'], [failing], { SLOTSTREAM_DEBUG: '1' });
  assert.equal(debug.code, 1);
  assert.match(debug.err, /\n {4}at /);
});

test('formatError: Node codes are not SQLSTATEs; an empty AggregateError shows its first error', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  assert.equal(formatError(refused), 'error: connect ECONNREFUSED 127.0.0.1:1');
  assert.equal(formatError(new AggregateError([refused], '')), 'error: connect ECONNREFUSED 127.0.0.1:1');
  assert.equal(formatError('plain'), 'error: plain');
});

test('connection precedence: --database-url, else DATABASE_URL, else embedded; empty means unset', () => {
  const env = { DATABASE_URL: 'postgres://env/db' };
  assert.deepEqual(chooseConnection('postgres://opt/db', env), {
    source: 'option',
    url: 'postgres://opt/db',
  });
  assert.deepEqual(chooseConnection(undefined, env), { source: 'env', url: 'postgres://env/db' });
  assert.deepEqual(chooseConnection(undefined, {}), { source: 'embedded' });
  assert.deepEqual(chooseConnection('', { DATABASE_URL: '' }), { source: 'embedded' });
});

test('redact hides the password only', () => {
  assert.equal(redact('postgres://u:secret@h:5432/db'), 'postgres://u:***@h:5432/db');
  assert.equal(redact('postgres://u@h/db'), 'postgres://u@h/db');
});
