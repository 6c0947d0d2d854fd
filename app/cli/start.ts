import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  type Command,
  chooseConnection,
  redact,
  resolveConnection,
  startEmbeddedStandby,
  UsageError,
} from 'slotstream/cli';
import { type MigrateResult, migrateLatest } from 'slotstream/migrations';
import { REGISTRATION_TOKEN_ENV } from '../auth/registration-token.ts';
import { formatStatus, type ReaderStatus } from './reader.ts';
import { registrationTokenOption } from './registration-option.ts';
import { Supervisor } from './supervisor.ts';

const READER_SLOTS = ['reader_1', 'reader_2'];
const WRITER_PORT = 8008;
const FIRST_READER_PORT = 8081;
const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'slotstream.js');

export const start: Command = {
  name: 'start',
  summary:
    'the reference deployment: PostgreSQL (embedded by default), migrations, one writer, readers reader_1 and reader_2',
  usage: [
    'usage: slotstream start [--database-url URL | --standby] [--registration-token TOKEN]',
    '',
    'Starts the embedded PostgreSQL (data in .slotstream/pg) unless a URL is given, applies the migrations,',
    `then runs the writer (http://127.0.0.1:${WRITER_PORT}) and one reader process per slot (reader_1 on`,
    `http://127.0.0.1:${FIRST_READER_PORT}, reader_2 on :${FIRST_READER_PORT + 1}) and shows a live status line per reader.`,
    'A writer or reader that exits on its own is started again (after 0.5 s, doubling while it keeps dying,',
    'up to 30 s), shown in its status line; the others and PostgreSQL keep running.',
    'Ctrl-C stops everything cleanly: the readers acknowledge what they applied and close their connections',
    '(their slots stay for the next start), then the writer and the embedded PostgreSQL shut down.',
    CONNECTION_USAGE,
    '  --standby           readers on a hot standby (PostgreSQL 16+ decodes there): the embedded cluster is',
    '                      the primary and has the writer; its standby in .slotstream/standby (made from a',
    '                      base backup on first use, reused after) has the readers and their slots.',
    '                      `slotstream db promote` promotes it.',
    '  --registration-token TOKEN',
    '                      close registration on the writer: POST /register then needs Authorization: Bearer',
    `                      TOKEN; default: $${REGISTRATION_TOKEN_ENV}, else registration is open (the demo)`,
  ].join('\n'),

  async run(argv, project) {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...CONNECTION_OPTIONS,
        standby: { type: 'boolean', default: false },
        'registration-token': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.standby && chooseConnection(values['database-url'], process.env).source !== 'embedded')
      throw new UsageError(
        '--standby makes a standby of the embedded cluster: leave out --database-url and DATABASE_URL',
      );
    const registrationToken = registrationTokenOption(values['registration-token'], process.env);
    const log = (line: string) => console.error(line);
    const connection = await resolveConnection({ databaseUrl: values['database-url'], log });
    const migrated = await migrateLatest(connection.url, project.config);
    // After the migrations, which it replays before the readers start on it.
    const standby = values.standby ? await startEmbeddedStandby(connection, { log }) : undefined;
    console.log(
      `PostgreSQL  ${redact(connection.url)}${connection.embedded ? '  (embedded, data in .slotstream/pg)' : ''}`,
    );
    if (standby) console.log(`standby     ${standby.url}  (hot standby of it, data in .slotstream/standby)`);
    console.log(`migrations  ${summary(migrated)}`);
    const writerUrl = `http://127.0.0.1:${WRITER_PORT}`;
    console.log(`writer      ${writerUrl}${standby ? '  (on the primary)' : ''}`);
    console.log(
      `register    ${registrationToken === undefined ? 'open: POST /register {"user_id"} gives an access token' : 'closed: POST /register needs the registration token'}`,
    );
    READER_SLOTS.forEach((slot, i) => {
      console.log(
        `reader      http://127.0.0.1:${FIRST_READER_PORT + i}  (slot ${slot}${standby ? ', on the standby' : ''})`,
      );
    });
    console.log('logs        .slotstream/logs/  (watch a slot with: npx slotstream tail --slot debug_1)');

    const logs = path.resolve('.slotstream', 'logs');
    await mkdir(logs, { recursive: true });
    const board = new StatusBoard(['writer', ...READER_SLOTS]);
    // On a standby, a reader also needs the primary: to ask it for the snapshot its new slot waits for.
    const database = standby
      ? ['--database-url', standby.url, '--primary-url', connection.url]
      : ['--database-url', connection.url];
    const supervisor = new Supervisor(
      [
        {
          name: 'writer',
          spawn: () => {
            board.set('writer', `writer  ${writerUrl}  running`);
            return spawnLogged(
              ['writer', '--port', String(WRITER_PORT), '--database-url', connection.url],
              path.join(logs, 'writer.log'),
              // In the environment, not the arguments: off the process list.
              registrationToken === undefined ? {} : { [REGISTRATION_TOKEN_ENV]: registrationToken },
            );
          },
        },
        ...READER_SLOTS.map((slot, i) => ({
          name: slot,
          spawn: () =>
            startReader(
              slot,
              FIRST_READER_PORT + i,
              writerUrl,
              database,
              board,
              path.join(logs, `${slot}.log`),
            ),
        })),
      ],
      (name, line) => board.set(name, line),
    );
    // Until everything has stopped: a second Ctrl-C must not kill this process and orphan the children.
    let requestStop = () => {};
    const stopRequested = new Promise<void>((resolve) => {
      requestStop = resolve;
    });
    process.on('SIGINT', requestStop);
    process.on('SIGTERM', requestStop);
    await stopRequested;
    // The writer goes last: readers may still be telling it about delivered messages as they stop.
    const outcomes = await supervisor.stop([READER_SLOTS, ['writer']]);
    process.off('SIGINT', requestStop);
    process.off('SIGTERM', requestStop);
    board.done();
    // The standby first: stopped after its primary, it would spend its last moments failing to reconnect.
    await standby?.embedded?.stop();
    await connection.embedded?.stop();
    await connection.close();
    for (const [name, outcome] of outcomes)
      if (outcome !== 'ok') console.error(`${name} ${outcome} (see .slotstream/logs/)`);
    for (const [name, restarts] of supervisor.restarts)
      if (restarts > 0) console.error(`${name} was restarted ${restarts} time(s) (see .slotstream/logs/)`);
    return [...outcomes.values()].every((o) => o === 'ok') ? 0 : 1;
  },
};

/** A child `slotstream` process whose output (structured logs) goes to a file; `env` adds to this one's. */
function spawnLogged(args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', log, log],
    env: { ...process.env, ...env },
  });
  closeSync(log);
  return child;
}

function startReader(
  slot: string,
  port: number,
  writerUrl: string,
  database: string[],
  board: StatusBoard,
  logFile: string,
): ChildProcess {
  const log = openSync(logFile, 'a');
  const args = ['reader', '--slot', slot, '--port', String(port), '--writer-url', writerUrl, '--json'];
  const child = spawn(process.execPath, [BIN, ...args, ...database], {
    stdio: ['ignore', 'pipe', log],
  });
  closeSync(log);
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      board.update(JSON.parse(line) as ReaderStatus);
    } catch {
      console.log(`${slot}: ${line}`);
    }
  });
  return child;
}

/** One status line per reader: redrawn in place on a terminal, appended otherwise (logs, pipes). */
class StatusBoard {
  readonly #lines: Map<string, string>;
  #drawn = 0;

  constructor(names: string[]) {
    this.#lines = new Map(names.map((s) => [s, `${s}  starting…`]));
    this.#draw();
  }

  update(status: ReaderStatus): void {
    this.set(status.slot, formatStatus(status));
  }

  /** The line of process `name`. */
  set(name: string, line: string): void {
    const changed = this.#lines.get(name) !== line;
    this.#lines.set(name, line);
    if (process.stdout.isTTY) this.#draw();
    else if (changed) console.log(line); // a log gets news, not a line per second
  }

  done(): void {
    if (process.stdout.isTTY) process.stdout.write('\n');
  }

  #draw(): void {
    if (!process.stdout.isTTY) return;
    const up = this.#drawn > 0 ? `\x1b[${this.#drawn}F` : '';
    process.stdout.write(`${up}${[...this.#lines.values()].map((l) => `\x1b[2K${l}`).join('\n')}\n`);
    this.#drawn = this.#lines.size;
  }
}

/** One line for the start banner: what `migrate` did, if anything. */
function summary(result: MigrateResult): string {
  const applied = [...result.slotstream.map((m) => `slotstream ${m}`), ...(result.service?.migrations ?? [])];
  const p = result.publication;
  const publication = p?.created
    ? `; created publication ${p.name}`
    : p && p.added.length > 0
      ? `; publication ${p.name}: added ${p.added.join(', ')}`
      : '';
  return `${applied.length === 0 ? 'up to date' : `applied ${applied.join(', ')}`}${publication}`;
}
