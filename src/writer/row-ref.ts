import { WriterUsageError } from './errors.ts';

/**
 * A stream row handed to a writer transaction. Its position is allocated in the transaction's commit step
 * (docs/positions.md), so it is known only once `StreamWriter.transaction` has returned.
 *
 * @example
 * ```ts
 * import { StreamWriter } from 'slotstream';
 * const { value: ref } = await new StreamWriter(db).transaction((tx) =>
 *   tx.insert(todos, { id: 't1', owner: 'alice', title: 'buy milk' }),
 * );
 * ref.position; // the row's position (read inside the callback, it throws WriterUsageError)
 * ```
 */
export class StreamRowRef {
  #position: bigint | undefined;

  constructor(readonly stream: string) {}

  /** The row's position; throws WriterUsageError until its transaction has committed. */
  get position(): bigint {
    if (this.#position === undefined) {
      throw new WriterUsageError(
        `the position of a ${this.stream} row is allocated when its transaction commits: read it after transaction() returns`,
      );
    }
    return this.#position;
  }

  /** @internal Set by the commit step. */
  allocated(position: bigint): void {
    this.#position = position;
  }
}
