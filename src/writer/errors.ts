import { SlotstreamError } from '../replication/errors.ts';

/** A writer API call that cannot work as asked: a misuse in the calling code, not a server failure. */
export class WriterUsageError extends SlotstreamError {}
