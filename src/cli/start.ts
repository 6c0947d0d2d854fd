import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { migrateLatest } from '../migrations/migrator.ts';
import type { Command } from './command.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, redact, resolveConnection } from './connection.ts';
import { formatStatus, type ReaderStatus } from './reader.ts';

const READER_SLOTS = ['reader_1', 'reader_2'];
const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'slotstream.js');

export const start: Command = {
  name: 'start',
  summary:
    'the reference deployment: PostgreSQL (embedded by default), migrations, readers reader_1 and reader_2',
  usage: [
    'usage: slotstream start [--database-url URL]',
    '',
    'Starts the embedded PostgreSQL (data in .slotstream/pg) unless a URL is given, applies the migrations,',
    'then runs one reader process per slot (reader_1, reader_2) and shows a live status line for each.',
    'Ctrl-C stops everything cleanly: the readers acknowledge what they applied and close their connections',
    '(their slots stay for the next start), then the embedded PostgreSQL shuts down.',
    CONNECTION_USAGE,
  ].join('\n'),

  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { ...CONNECTION_OPTIONS },
      strict: true,
      allowPositionals: false,
    });
    const connection = await resolveConnection({
      databaseUrl: values['database-url'],
      log: (l) => console.error(l),
    });
    const { migrations } = await migrateLatest(connection.url);
    console.log(
      `PostgreSQL  ${redact(connection.url)}${connection.embedded ? '  (embedded, data in .slotstream/pg)' : ''}`,
    );
    console.log(`migrations  ${migrations.length === 0 ? 'up to date' : `applied ${migrations.join(', ')}`}`);
    console.log(
      `readers     ${READER_SLOTS.join(', ')}  (watch a slot with: npx slotstream tail --slot debug_1)`,
    );

    const board = new StatusBoard(READER_SLOTS);
    const readers = READER_SLOTS.map((slot) => startReader(slot, connection.url, board));
    const stopped = Promise.all(
      readers.map((r) => new Promise<number | null>((resolve) => r.once('exit', resolve))),
    );
    const stop = () => {
      for (const r of readers) r.kill('SIGTERM');
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const codes = await stopped;
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    board.done();
    await connection.embedded?.stop();
    await connection.close();
    return codes.every((c) => c === 0) ? 0 : 1;
  },
};

function startReader(slot: string, url: string, board: StatusBoard): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'reader', '--slot', slot, '--json', '--database-url', url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
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

  constructor(slots: string[]) {
    this.#lines = new Map(slots.map((s) => [s, `${s}  starting…`]));
    this.#draw();
  }

  update(status: ReaderStatus): void {
    const line = formatStatus(status);
    const changed = this.#lines.get(status.slot) !== line;
    this.#lines.set(status.slot, line);
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
