import type { Command } from './command.ts';
import { db } from './db.ts';
import { doctor } from './doctor.ts';
import { migrate } from './migrate.ts';
import { slots } from './slots.ts';
import { tail } from './tail.ts';

/** Every `slotstream` command, in the order `slotstream --help` lists them. A new command: one file, one line. */
export const commands: readonly Command[] = [migrate, db, tail, slots, doctor];
