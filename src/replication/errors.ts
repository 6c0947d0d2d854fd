/**
 * Errors of the replication layer. Each says what happened and what to do; those caused by the server carry
 * its SQLSTATE (`code`) and its own message.
 */
export class SlotstreamError extends Error {
  /** SQLSTATE when the server reported the error. */
  readonly code: string | undefined;

  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options?.code;
  }
}

/** A pgoutput message that cannot be decoded: truncated, an unknown tag, or a value of the wrong form. */
export class MalformedMessageError extends SlotstreamError {
  constructor(
    readonly tag: string,
    readonly offset: number,
    detail: string,
  ) {
    super(
      `malformed pgoutput message '${tag}' at offset ${offset}: ${detail}. ` +
        'The server sent bytes this decoder does not understand; report it with the server version.',
    );
  }
}

/** A slot or publication name that PostgreSQL would refuse; raised before any SQL is sent. */
export class InvalidNameError extends SlotstreamError {
  constructor(
    readonly kind: 'slot' | 'publication',
    readonly value: string,
    hint: string,
  ) {
    super(`invalid ${kind} name ${JSON.stringify(value)}: ${hint}`);
  }
}

/** SQLSTATE 55006: another walsender holds the slot. */
export class SlotInUseError extends SlotstreamError {
  constructor(
    readonly slot: string,
    readonly pid: number | undefined,
    cause: unknown,
  ) {
    super(
      `replication slot "${slot}" is in use by the process with PID ${pid ?? '(unknown)'}. ` +
        'Another reader holds it: stop that reader, give this one its own slot, or start it with the option ' +
        'to wait for the slot (`ifSlotActive: "wait"`, CLI `--wait`).',
      { cause, code: '55006' },
    );
  }
}

/** The server does not run with wal_level=logical, so no logical slot can exist. */
export class WalLevelError extends SlotstreamError {
  constructor(readonly walLevel: string) {
    super(
      `the server runs with wal_level=${walLevel}; logical decoding needs wal_level=logical. ` +
        "Run ALTER SYSTEM SET wal_level = 'logical' as a superuser and restart PostgreSQL " +
        '(or use the embedded default, which starts with it).',
    );
  }
}

/** The role we connect as may not start replication. */
export class ReplicationPermissionError extends SlotstreamError {
  constructor(
    readonly role: string,
    cause?: unknown,
  ) {
    super(
      `role "${role}" may not use replication: it needs the REPLICATION attribute ` +
        `(ALTER ROLE "${role}" REPLICATION, run by a superuser) or to be a superuser.`,
      { cause, code: '42501' },
    );
  }
}

/** The publication is missing, or does not cover a table the consumer needs. */
export class PublicationError extends SlotstreamError {
  constructor(
    readonly publication: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause, code: (cause as { code?: string } | undefined)?.code });
  }
}

/** CREATE_REPLICATION_SLOT waited too long for running transactions to finish. */
export class SlotCreationTimeoutError extends SlotstreamError {
  constructor(
    readonly slot: string,
    blockers: string,
    cause: unknown,
  ) {
    super(
      `creating replication slot "${slot}" timed out waiting for running transactions to finish${blockers}. ` +
        'A slot can only start at a moment with no older transaction open: end those transactions and retry.',
      { cause, code: '55P03' },
    );
  }
}

/** Any other error the server reported, in its own words, with the SQLSTATE and what we were doing. */
export class ServerError extends SlotstreamError {
  constructor(doing: string, cause: { message: string; code?: string }) {
    const state = sqlState(cause);
    super(`${doing} failed: ${cause.message}${state ? ` (SQLSTATE ${state})` : ''}`, { cause, code: state });
  }
}

/** The slot name is taken by a slot of another kind or in another database. */
export class SlotElsewhereError extends SlotstreamError {
  constructor(readonly slot: { name: string; database: string | null; plugin: string | null }) {
    super(
      `replication slot "${slot.name}" already exists ` +
        (slot.database ? `for database "${slot.database}"` : 'as a physical slot') +
        `${slot.plugin ? ` with plugin ${slot.plugin}` : ''}, so this database cannot use it. ` +
        'Slot names are per server: pick another name, or drop that slot if it is abandoned.',
    );
  }
}

/**
 * A server error's SQLSTATE: five digits or capitals. Node's system errors have codes too, some of the same
 * shape (EPIPE), but they also carry `syscall`; those are not SQLSTATEs.
 */
export function sqlState(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || 'syscall' in err) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
