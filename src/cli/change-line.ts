/**
 * Decoded changes as the JSON lines of `slotstream tail` and `slotstream slots peek` (the format is fixed
 * in docs/cli.md):
 *
 * `{"lsn","commit_lsn","xid","commit_time","table","op","row","old"}`, messages adding `prefix`, `content`.
 *
 * - `lsn`: WAL position of the change's record; `commit_lsn`: its transaction's commit record, known
 *   from the Begin (finalLsn), which is why a change can be printed as soon as it arrives.
 * - `row`: the new row (insert, update), else null. `old`: the replica identity key or, under REPLICA
 *   IDENTITY FULL, the whole old row (update, delete); null when the server sent none.
 * - truncate: one line per truncated table, `row` and `old` null.
 * - message: `table`, `row` and `old` null; `content` as UTF-8 text, or `\x` hex when not valid UTF-8
 *   (see messageContent). A non-transactional message comes outside any transaction: its `commit_lsn`,
 *   `xid` and `commit_time` are null.
 */

import { formatLsn, type Lsn } from '../replication/lsn.ts';
import type { JsonValue, PgoutputMessage, Relation, Row } from '../replication/pgoutput/index.ts';
import { jsonSafeRow, messageContent } from './json-safe.ts';

export type ChangeOp = 'insert' | 'update' | 'delete' | 'truncate' | 'message';

export interface ChangeLine {
  lsn: string;
  commit_lsn: string | null;
  xid: number | null;
  commit_time: string | null;
  table: string | null;
  op: ChangeOp;
  row: Record<string, JsonValue> | null;
  old: Record<string, JsonValue> | null;
  prefix?: string;
  content?: string;
}

interface OpenTransaction {
  commitLsn: string;
  xid: number;
  commitTime: string;
}

/** Follows Begin/Commit so each change line carries its transaction; one instance per stream. */
export class ChangeLines {
  #txn: OpenTransaction | undefined;

  /** The lines for one decoded message (none for begin, commit, relation, type, origin). */
  lines(message: PgoutputMessage, lsn: Lsn): ChangeLine[] {
    switch (message.tag) {
      case 'begin':
        this.#txn = {
          commitLsn: formatLsn(message.finalLsn),
          xid: message.xid,
          commitTime: message.commitTime.toISOString(),
        };
        return [];
      case 'commit':
        this.#txn = undefined;
        return [];
      case 'insert':
        return [this.#line(lsn, message.relation, 'insert', message.new, null)];
      case 'update':
        return [this.#line(lsn, message.relation, 'update', message.new, message.old ?? message.key)];
      case 'delete':
        return [this.#line(lsn, message.relation, 'delete', null, message.old ?? message.key)];
      case 'truncate':
        return message.relations.map((r) => this.#line(lsn, r, 'truncate', null, null));
      case 'message': {
        const inTransaction = message.transactional ? this.#txn : undefined;
        return [
          {
            ...this.#head(lsn, inTransaction),
            table: null,
            op: 'message',
            row: null,
            old: null,
            prefix: message.prefix,
            content: messageContent(message.content),
          },
        ];
      }
      default:
        return [];
    }
  }

  #line(lsn: Lsn, relation: Relation, op: ChangeOp, row: Row | null, old: Row | null): ChangeLine {
    return {
      ...this.#head(lsn, this.#txn),
      table: `${relation.schema}.${relation.name}`,
      op,
      row: jsonSafeRow(row),
      old: jsonSafeRow(old),
    };
  }

  #head(lsn: Lsn, txn: OpenTransaction | undefined) {
    return {
      lsn: formatLsn(lsn),
      commit_lsn: txn?.commitLsn ?? null,
      xid: txn?.xid ?? null,
      commit_time: txn?.commitTime ?? null,
    };
  }
}

/** One line of output: the JSON object and its newline. */
export function serializeChangeLine(line: ChangeLine): string {
  return `${JSON.stringify(line)}\n`;
}
