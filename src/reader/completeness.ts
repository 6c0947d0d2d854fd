import { SlotstreamError } from '../replication/errors.ts';
import { formatLsn } from '../replication/lsn.ts';
import type { CommitMessage, Relation } from '../replication/pgoutput/types.ts';
import { parseCountsMessage } from '../streams/protocol.ts';
import type { StreamSet } from '../streams/stream-set.ts';

/** Per stream table (`schema.table`) of an incomplete transaction: what the writer made, what arrived. */
export interface MissingChanges {
  table: string;
  expected: number;
  received: number;
}

/**
 * A writer transaction reached the reader with fewer changes to a stream table than the database counted
 * when it was written (its `slotstream.counts` message): the walsender skipped them, because the publication
 * was dropped or stopped covering the table (PostgreSQL logs a WARNING at most). The reader did not apply it
 * and waits for the publication to be repaired, then starts over from a new slot (a reset).
 *
 * @example
 * ```ts
 * import { IncompleteTransactionError } from 'slotstream';
 * if (reader.fault?.error instanceof IncompleteTransactionError) console.error(reader.fault.error.missing);
 * ```
 */
export class IncompleteTransactionError extends SlotstreamError {
  constructor(
    readonly publication: string,
    readonly xid: number | undefined,
    readonly commitLsn: bigint,
    readonly missing: readonly MissingChanges[],
  ) {
    super(
      `writer transaction ${xid ?? '?'} (commit ${formatLsn(commitLsn)}) arrived incomplete: ` +
        `${missing.map((m) => `${m.table} ${m.received} of ${m.expected} changes`).join(', ')}. Publication ` +
        `"${publication}" probably lost those tables or was dropped: run \`slotstream migrate\` to repair it; ` +
        'the reader then starts over on a new slot (a reset).',
    );
  }
}

/**
 * The changes one transaction brought to each followed stream table, and what its counts message says it
 * made: the proof, at commit, that nothing was skipped. Tables without a count are not checked, nor are
 * transactions without the message (not the writer's, or an older writer's). More changes than counted
 * cannot make a cache stale (a stream table missing its counting triggers, say), so only fewer is a fault.
 */
export class ChangeTally {
  readonly #streams: StreamSet;
  /** By Relation, the decoder's object for a table: no name is built per change on the hot path. */
  readonly #received = new Map<Relation, number>();
  #expected: Map<string, number> | undefined;
  /** Transactions whose counts were checked: evidence that the proof is there, not absent. */
  checked = 0;

  constructor(streams: StreamSet) {
    this.#streams = streams;
  }

  /** A new transaction, or one cut off: nothing counted. */
  clear(): void {
    this.#received.clear();
    this.#expected = undefined;
  }

  /** A change to `relation` (a row, or its part in a Truncate). */
  saw(relation: Relation): void {
    this.#received.set(relation, (this.#received.get(relation) ?? 0) + 1);
  }

  /** The counts message's content; throws StreamMessageError when malformed (then nothing is checked). */
  announced(content: Buffer): void {
    this.#expected = parseCountsMessage(content);
  }

  /** At commit: what is missing, as the error to raise, or undefined when the transaction is whole. */
  check(
    commit: CommitMessage,
    xid: number | undefined,
    publication: string,
  ): IncompleteTransactionError | undefined {
    const expected = this.#expected;
    if (expected === undefined) return undefined;
    this.checked++;
    const byTable = new Map<string, number>(); // a stream's qualifiedName
    for (const [relation, n] of this.#received) {
      const table = `${relation.schema}.${relation.name}`;
      byTable.set(table, (byTable.get(table) ?? 0) + n);
    }
    const missing: MissingChanges[] = [];
    for (const stream of this.#streams.tables) {
      const count = expected.get(stream.qualifiedName) ?? 0;
      const received = byTable.get(stream.qualifiedName) ?? 0;
      if (received < count) missing.push({ table: stream.qualifiedName, expected: count, received });
    }
    return missing.length === 0
      ? undefined
      : new IncompleteTransactionError(publication, xid, commit.commitLsn, missing);
  }
}
