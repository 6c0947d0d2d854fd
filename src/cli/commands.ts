import type { Command } from './command.ts';
import { db } from './db.ts';
import { doctor } from './doctor.ts';
import { migrate } from './migrate.ts';
import { slots } from './slots.ts';
import { tail } from './tail.ts';

/**
 * slotstream's own commands, in the order `slotstream --help` lists them (a project's config adds its
 * own after them). A new command: one file, one line.
 */
export const commands: readonly Command[] = [migrate, tail, slots, doctor, db];
