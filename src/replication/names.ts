import { InvalidNameError } from './errors.ts';

/**
 * Slot names: PostgreSQL allows lower-case letters, digits and underscores, at most 63 bytes
 * (ReplicationSlotValidateName). Checked here so a bad name fails before any SQL is sent.
 */
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

/**
 * Publication names are identifiers and could hold anything when quoted; we accept the unquoted-identifier
 * shape (any case, kept as given) so names stay typeable in psql, and quote them everywhere anyway.
 */
const PUBLICATION_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/**
 * Returns `name` if PostgreSQL accepts it as a replication slot name (1 to 63 lower-case letters, digits and
 * underscores); throws InvalidNameError otherwise, before any SQL is sent.
 *
 * @example
 * ```ts
 * import { validateSlotName } from 'slotstream';
 * const slot = validateSlotName(process.env.SLOT ?? 'reader_1'); // InvalidNameError for 'Reader-1'
 * ```
 */
export function validateSlotName(name: string): string {
  if (!SLOT_NAME.test(name)) {
    throw new InvalidNameError(
      'slot',
      name,
      'use 1 to 63 characters of lower-case letters, digits and underscores (e.g. reader_1)',
    );
  }
  return name;
}

/**
 * Returns `name` if it has the shape of an unquoted identifier (a letter or underscore, then letters,
 * digits, underscores or `$`; at most 63); throws InvalidNameError otherwise.
 *
 * @example
 * ```ts
 * import { validatePublicationName } from 'slotstream';
 * validatePublicationName('todo'); // 'todo'; 'my-pub' throws InvalidNameError
 * ```
 */
export function validatePublicationName(name: string): string {
  if (!PUBLICATION_NAME.test(name)) {
    throw new InvalidNameError(
      'publication',
      name,
      'use 1 to 63 letters, digits, underscores or $, starting with a letter or underscore',
    );
  }
  return name;
}

/**
 * A double-quoted SQL identifier. Every identifier we send goes through this, validated or not.
 *
 * @example
 * ```ts
 * import { quoteIdent } from 'slotstream';
 * await client.query(`ALTER PUBLICATION ${quoteIdent('todo')} ADD TABLE todos`); // "todo"
 * ```
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A single-quoted SQL string literal (for replication command options).
 *
 * @example
 * ```ts
 * import { quoteLiteral } from 'slotstream';
 * quoteLiteral("it's"); // "'it''s'"
 * ```
 */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** The publication a reader decodes through when none is named, and the one `slotstream migrate` keeps. */
export const DEFAULT_PUBLICATION = 'slotstream';
