import { WriterUsageError } from './errors.ts';

/**
 * A stream row handed to a writer transaction. Its position is allocated in the transaction's commit step
 * (docs/positions.md), so it is known only once `StreamWriter.transaction` has returned.
 */
export class StreamRowRef {
  #position: bigint | undefined;

  constructor(readonly stream: string) {}

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
