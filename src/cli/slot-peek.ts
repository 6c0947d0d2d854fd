/**
 * `slotstream slots peek`: the changes waiting in a slot, decoded without consuming them. The SQL decoding
 * interface (pg_logical_slot_peek_binary_changes) runs pgoutput in this session and leaves the slot's
 * confirmed_flush_lsn where it was, so a reader later receives the very same changes.
 */
import type pg from 'pg';
import { ServerError } from '../replication/errors.ts';
import { parseLsn } from '../replication/lsn.ts';
import { quoteIdent } from '../replication/names.ts';
import { PgoutputParser } from '../replication/pgoutput/index.ts';
import { getSlot } from '../replication/slots.ts';
import { ChangeLines } from './change-line.ts';
import { SlotActiveError, SlotNotFoundError, SlotPluginError } from './slot-errors.ts';

export interface PeekOptions {
  slot: string;
  publication: string;
  /**
   * pg_logical_slot_peek_binary_changes' upto_nchanges: decoding stops once this many pgoutput messages
   * (begin and commit included) were produced, at the end of the transaction that reached it.
   */
  limit: number;
}

/**
 * Protocol version 1 is enough here: it has everything a committed transaction needs, and streaming of
 * in-progress transactions (version 2+) would only matter to a consumer that keeps up with the walsender.
 */
const PEEK_SQL = `SELECT lsn::text AS lsn, data
  FROM pg_logical_slot_peek_binary_changes($1, NULL, $2,
         'proto_version', '1', 'publication_names', $3, 'messages', 'true')`;

/** The pending changes as `tail` prints them: the text of each decoded message in turn. */
export async function peekChanges(client: pg.Client, options: PeekOptions): Promise<Iterable<string>> {
  const slot = await getSlot(client, options.slot);
  if (!slot) throw new SlotNotFoundError(options.slot);
  if (slot.plugin !== 'pgoutput') throw new SlotPluginError(options.slot, slot.plugin);
  if (slot.active) throw new SlotActiveError(options.slot, slot.activePid, 'peek');
  return decode(await peekRows(client, options));
}

export interface PeekRow {
  lsn: string;
  /** One pgoutput message. */
  data: Buffer;
}

/** The pending pgoutput messages of an idle slot, undecoded; ServerError if the server refuses. */
export async function peekRows(client: pg.Client, options: PeekOptions): Promise<PeekRow[]> {
  try {
    // publication_names is a list of identifiers, so the name goes in quoted.
    return (await client.query(PEEK_SQL, [options.slot, options.limit, quoteIdent(options.publication)]))
      .rows;
  } catch (err) {
    throw new ServerError(`peeking at replication slot "${options.slot}"`, err as Error);
  }
}

/** Decoded as they are written, so the text of all of them is never in memory at once. */
function* decode(rows: PeekRow[]): Generator<string> {
  const parser = new PgoutputParser();
  const changes = new ChangeLines();
  for (const row of rows) yield changes.text(parser.parse(row.data), parseLsn(row.lsn));
}
