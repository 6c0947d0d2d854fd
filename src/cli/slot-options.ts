import { validatePublicationName, validateSlotName } from '../replication/names.ts';
import { UsageError } from './command.ts';
import { CONNECTION_OPTIONS } from './connection.ts';

/** The options of every command that consumes a slot (`tail`, `reader`), for parseArgs. */
export const SLOT_OPTIONS = {
  ...CONNECTION_OPTIONS,
  slot: { type: 'string' },
  publication: { type: 'string' },
} as const;

export const SLOT_USAGE = [
  '  --slot NAME         the logical slot to consume (lower-case letters, digits, underscores), e.g. reader_1',
  "  --publication NAME  default: the project's (slotstream.config), else slotstream",
];

/**
 * The validated slot and publication (the option's, else `fallback`: the project's). Called before any
 * connection: a bad name must not touch the server. Throws UsageError without `--slot`, and
 * InvalidNameError for a name PostgreSQL would refuse.
 *
 * @example
 * ```ts
 * import { parseArgs } from 'node:util';
 * import { SLOT_OPTIONS, slotAndPublication } from 'slotstream/cli';
 * const { values } = parseArgs({ args: process.argv.slice(2), options: SLOT_OPTIONS });
 * const { slot, publication } = slotAndPublication(values, 'slotstream'); // or a project's publication
 * ```
 */
export function slotAndPublication(
  values: { slot?: string | undefined; publication?: string | undefined },
  fallback: string,
): {
  slot: string;
  publication: string;
} {
  if (values.slot === undefined) throw new UsageError('--slot NAME is required');
  return {
    slot: validateSlotName(values.slot),
    publication: validatePublicationName(values.publication ?? fallback),
  };
}
