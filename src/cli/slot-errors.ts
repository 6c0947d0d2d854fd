/** Errors of the `slotstream slots` commands, each saying what to do. */
import { SlotstreamError } from '../replication/errors.ts';

export class SlotNotFoundError extends SlotstreamError {
  constructor(readonly slot: string) {
    super(
      `replication slot "${slot}" does not exist on this server. ` +
        '`slotstream slots list` shows the slots there are; `slotstream slots create NAME` makes one.',
    );
  }
}

/** The slot is held by a walsender: it cannot be dropped or peeked while that process streams from it. */
export class SlotActiveError extends SlotstreamError {
  constructor(
    readonly slot: string,
    readonly pid: number | null,
    doing: string,
  ) {
    const who = pid === null ? 'another process' : `the process with PID ${pid}`;
    const stop =
      pid === null
        ? 'stop the reader using it'
        : `stop the reader using it (or end that session: SELECT pg_terminate_backend(${pid}))`;
    super(`cannot ${doing} replication slot "${slot}": it is in use by ${who}. First ${stop}, then retry.`, {
      code: '55006',
    });
  }
}

/** peek decodes with pgoutput; a slot made for another output plugin would produce something else. */
export class SlotPluginError extends SlotstreamError {
  constructor(
    readonly slot: string,
    readonly plugin: string | null,
  ) {
    super(
      `replication slot "${slot}" ${plugin ? `uses the output plugin ${plugin}` : 'is a physical slot'}, ` +
        'not pgoutput, so slotstream cannot decode it.',
    );
  }
}
