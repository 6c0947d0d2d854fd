// pg-copy-streams ships no types, and @types/pg-copy-streams lacks copyBoth; this declares what we use.
declare module 'pg-copy-streams' {
  import type { Duplex, DuplexOptions } from 'node:stream';
  import type { Submittable } from 'pg';

  export interface CopyBothOptions extends DuplexOptions {
    /** Push one CopyData payload per chunk instead of arbitrary byte runs. */
    alignOnCopyDataFrame?: boolean;
  }
  export type CopyBothStream = Duplex & Submittable;
  export function both(text: string, options?: CopyBothOptions): CopyBothStream;
  const copyStreams: { both: typeof both };
  export default copyStreams;
}
