import type { Command } from './command.ts';
import { db } from './db.ts';
import { doctor } from './doctor.ts';
import { migrate } from './migrate.ts';
import { reader } from './reader.ts';
import { slots } from './slots.ts';
import { start } from './start.ts';
import { tail } from './tail.ts';
import { writer } from './writer.ts';

/** Every `slotstream` command, in the order `slotstream --help` lists them. A new command: one file, one line. */
export const commands: readonly Command[] = [start, migrate, reader, writer, tail, slots, doctor, db];
