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
 *
 * A line is built as text from pieces that are the same for a whole transaction (its commit LSN, xid and
 * time) or a whole relation (RelationFormat), so a row costs little beyond its values: how many rows `tail`
 * prints a second depends on it.
 */

import { formatLsn, type Lsn } from '../replication/lsn.ts';
import type { PgoutputMessage, Relation } from '../replication/pgoutput/index.ts';
import { messageContent } from './json-safe.ts';
import { RelationFormat } from './relation-format.ts';

/** What follows a line's `lsn` up to its `table` when it belongs to no transaction. */
const NO_TRANSACTION = '","commit_lsn":null,"xid":null,"commit_time":null,"table":';

/** Follows Begin/Commit so each change line carries its transaction; one instance per stream. */
export class ChangeLines {
  /** What follows a line's `lsn` up to its `table`, for the open transaction. */
  #transaction = NO_TRANSACTION;
  /** Keyed by the parser's Relation object, which a new Relation message for the table replaces. */
  readonly #relations = new WeakMap<Relation, RelationFormat>();

  /** The lines for one decoded message, each ending in a newline; '' for begin, commit, relation, type, origin. */
  text(message: PgoutputMessage, lsn: Lsn): string {
    switch (message.tag) {
      case 'begin':
        this.#transaction =
          `","commit_lsn":"${formatLsn(message.finalLsn)}","xid":${message.xid},` +
          `"commit_time":"${message.commitTime.toISOString()}","table":`;
        return '';
      case 'commit':
        this.#transaction = NO_TRANSACTION;
        return '';
      case 'insert': {
        const format = this.#format(message.relation);
        return `${this.#head(lsn)}${format.insert}${format.rowJson(message.new)},"old":null}\n`;
      }
      case 'update': {
        const format = this.#format(message.relation);
        const old = format.rowJson(message.old ?? message.key);
        return `${this.#head(lsn)}${format.update}${format.rowJson(message.new)},"old":${old}}\n`;
      }
      case 'delete': {
        const format = this.#format(message.relation);
        return `${this.#head(lsn)}${format.delete}${format.rowJson(message.old ?? message.key)}}\n`;
      }
      case 'truncate': {
        const head = this.#head(lsn);
        let text = '';
        for (const relation of message.relations) text += `${head}${this.#format(relation).truncate}`;
        return text;
      }
      case 'message': {
        const transaction = message.transactional ? this.#transaction : NO_TRANSACTION;
        return (
          `{"lsn":"${formatLsn(lsn)}${transaction}null,"op":"message","row":null,"old":null,` +
          `"prefix":${JSON.stringify(message.prefix)},"content":${JSON.stringify(messageContent(message.content))}}\n`
        );
      }
      default:
        return '';
    }
  }

  /** A line up to its `table`. */
  #head(lsn: Lsn): string {
    return `{"lsn":"${formatLsn(lsn)}${this.#transaction}`;
  }

  #format(relation: Relation): RelationFormat {
    let format = this.#relations.get(relation);
    if (format === undefined) {
      format = new RelationFormat(relation);
      this.#relations.set(relation, format);
    }
    return format;
  }
}
