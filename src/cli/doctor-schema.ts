/**
 * doctor's checks of the stream declarations against what readers will decode: each stream table as the
 * catalog describes it now, and the changes each idle slot still holds. The second matters because a slot
 * keeps rows as they were written: a column's type changed to one its declaration cannot hold, then changed
 * back, leaves changes in the slot that stop its reader on every start (SchemaChangeError) although the
 * table looks right.
 */
import type pg from 'pg';
import { PublicationError } from '../replication/errors.ts';
import { formatLsn } from '../replication/lsn.ts';
import { PgoutputParser } from '../replication/pgoutput/index.ts';
import { isLost, listSlots, type SlotInfo } from '../replication/slots.ts';
import { checkStreamTables } from '../streams/catalog-check.ts';
import type { AnyStream, TableStream } from '../streams/define.ts';
import { StreamSchemaError } from '../streams/errors.ts';
import { StreamSet } from '../streams/stream-set.ts';
import type { CheckResult } from './doctor-checks.ts';
import { peekRows } from './slot-peek.ts';

/** Pending messages decoded per slot: enough for a recent schema change, bounded for a long backlog. */
export const PEEK_MESSAGES = 10_000;

export async function streamSchemaChecks(
  client: pg.Client,
  publication: string,
  streams: readonly AnyStream[],
): Promise<CheckResult[]> {
  const set = new StreamSet(streams);
  if (set.tables.length === 0) return [];
  const results: CheckResult[] = [];
  for (const stream of set.tables) results.push(await tableCheck(client, publication, stream));
  const [{ database }] = (await client.query<{ database: string }>('SELECT current_database() AS database'))
    .rows as [{ database: string }];
  for (const slot of await listSlots(client)) {
    if (slot.plugin !== 'pgoutput' || slot.database !== database || slot.temporary || isLost(slot)) continue;
    if (!slot.active) results.push(await pendingCheck(client, publication, slot, set));
  }
  return results;
}

async function tableCheck(client: pg.Client, publication: string, stream: TableStream): Promise<CheckResult> {
  const check = `stream ${stream.name}`;
  try {
    const warnings = await checkStreamTables(client, publication, [stream]);
    if (warnings.length === 0)
      return { check, verdict: 'ok', detail: `${stream.qualifiedName} matches the declaration` };
    return {
      check,
      verdict: 'warn',
      detail: warnings.map((w) => `column ${w.column} is ${w.actual}, declared ${w.declared}`).join('; '),
      fix: 'declare the columns as the table has them (readers convert the values meanwhile)',
    };
  } catch (error) {
    // The publication check reports a table it does not cover.
    if (error instanceof PublicationError)
      return { check, verdict: 'ok', detail: 'not published: see the publication check' };
    if (!(error instanceof StreamSchemaError)) throw error;
    return {
      check,
      verdict: 'fail',
      detail: describe(error),
      fix: 'slotstream migrate, or change the declaration to match the table',
    };
  }
}

/** Decodes what `slot` holds (its first PEEK_MESSAGES messages) and checks each Relation against its stream. */
async function pendingCheck(
  client: pg.Client,
  publication: string,
  slot: SlotInfo,
  set: StreamSet,
): Promise<CheckResult> {
  const check = `slot ${slot.name} pending changes`;
  let rows: Awaited<ReturnType<typeof peekRows>>;
  try {
    rows = await peekRows(client, { slot: slot.name, publication, limit: PEEK_MESSAGES });
  } catch (error) {
    return { check, verdict: 'warn', detail: `could not decode them: ${(error as Error).message}` };
  }
  const parser = new PgoutputParser();
  let commitLsn = 0n;
  for (const row of rows) {
    const message = parser.parse(row.data);
    if (message.tag === 'begin') commitLsn = message.finalLsn;
    if (message.tag !== 'relation') continue;
    try {
      set.streamOf(message.relation);
    } catch (error) {
      if (!(error instanceof StreamSchemaError)) throw error;
      return {
        check,
        verdict: 'fail',
        detail:
          `the transaction that committed at ${formatLsn(commitLsn)} (at ${row.lsn}) does not fit its stream, ` +
          `so its reader stops there on every start: ${describe(error)}`,
        fix: `slotstream slots reset ${slot.name}  (skips the ${slot.lagBytes ?? '?'} bytes of WAL it holds)`,
      };
    }
  }
  const only = rows.length === PEEK_MESSAGES ? ` (the first ${PEEK_MESSAGES} only)` : '';
  return { check, verdict: 'ok', detail: `${rows.length} message(s) decoded${only}, all fit their streams` };
}

function describe(error: StreamSchemaError): string {
  return `${error.table}${error.column === undefined ? '' : ` column ${error.column}`}: ${error.detail}`;
}
