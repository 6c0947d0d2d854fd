import type { Command } from './command.ts';
import { db } from './db.ts';
import { migrate } from './migrate.ts';

/** Every `slotstream` command, in the order `slotstream --help` lists them. A new command: one file, one line. */
export const commands: readonly Command[] = [migrate, db];
