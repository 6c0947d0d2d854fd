/**
 * Errors of the replication layer. Each says what happened and what to do; those caused by the server carry
 * its SQLSTATE (`code`) and its own message. Every named error of the library extends this class (the
 * command line's UsageError aside).
 *
 * @example
 * ```ts
 * import { SlotstreamError, StreamReader } from 'slotstream';
 * await StreamReader.start({ connectionString, slot: 'reader_1', streams }).catch((error: unknown) => {
 *   if (error instanceof SlotstreamError) console.error(`${error.name} (${error.code ?? 'no SQLSTATE'})`);
 *   throw error; // its message says what to do
 * });
 * ```
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

/**
 * A replication message that cannot be decoded: a pgoutput message truncated, with an unknown tag or a value
 * of the wrong form (from `PgoutputParser.parse`), or a CopyData frame of the replication protocol that is
 * short or of an unknown kind. A subscription's iteration passes it on rather than retry the same bytes.
 *
 * @example
 * ```ts
 * import { PgoutputParser } from 'slotstream/pgoutput';
 * new PgoutputParser().parse(Buffer.from('Z')); // throws MalformedMessageError: unknown message tag Z (0x5a)
 * ```
 */
export class MalformedMessageError extends SlotstreamError {
  constructor(
    readonly tag: string,
    readonly offset: number,
    detail: string,
  ) {
    super(
      `malformed replication message '${tag}' at offset ${offset}: ${detail}. ` +
        'The server sent bytes this decoder does not understand; report it with the server version.',
    );
  }
}

/**
 * A slot or publication name that PostgreSQL would refuse; raised before any SQL is sent.
 *
 * @example
 * ```ts
 * import { validateSlotName } from 'slotstream';
 * validateSlotName('Reader-1'); // throws InvalidNameError: lower-case letters, digits and underscores only
 * ```
 */
export class InvalidNameError extends SlotstreamError {
  constructor(
    readonly kind: 'slot' | 'publication',
    readonly value: string,
    hint: string,
  ) {
    super(`invalid ${kind} name ${JSON.stringify(value)}: ${hint}`);
  }
}

/**
 * SQLSTATE 55006: another walsender holds the slot. Thrown by iterating a subscription (and so by
 * `StreamReader.start`) unless it was started with `ifSlotActive: 'wait'`.
 *
 * @example
 * ```ts
 * import { SlotInUseError, subscribe } from 'slotstream';
 * const sub = subscribe({ connectionString, slot: 'reader_1', publication: 'slotstream' });
 * try {
 *   for await (const event of sub) if (event.tag === 'commit') sub.ack(event);
 * } catch (error) {
 *   if (error instanceof SlotInUseError) console.error(`slot ${error.slot} is held by PID ${error.pid}`);
 * }
 * ```
 */
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

/**
 * The server does not run with wal_level=logical, so no logical slot can exist. Checked before a
 * subscription (or `StreamReader.start`) creates or uses its slot.
 *
 * @example
 * ```ts
 * import { StreamReader, WalLevelError } from 'slotstream';
 * await StreamReader.start({ connectionString, slot: 'reader_1', streams }).catch((error: unknown) => {
 *   if (error instanceof WalLevelError) console.error(`wal_level is ${error.walLevel}, not logical`);
 *   throw error;
 * });
 * ```
 */
export class WalLevelError extends SlotstreamError {
  constructor(readonly walLevel: string) {
    super(
      `the server runs with wal_level=${walLevel}; logical decoding needs wal_level=logical. ` +
        "Run ALTER SYSTEM SET wal_level = 'logical' as a superuser and restart PostgreSQL " +
        '(or use the embedded default, which starts with it).',
    );
  }
}

/**
 * The role we connect as may not start replication. Checked before a subscription (or
 * `StreamReader.start`) creates or uses its slot.
 *
 * @example
 * ```ts
 * import { ReplicationPermissionError, StreamReader } from 'slotstream';
 * await StreamReader.start({ connectionString, slot: 'reader_1', streams }).catch((error: unknown) => {
 *   if (error instanceof ReplicationPermissionError) console.error(`ALTER ROLE "${error.role}" REPLICATION`);
 *   throw error;
 * });
 * ```
 */
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

/**
 * The publication is missing, or does not cover a table the consumer needs (`SubscribeOptions.tables`).
 * Checked before a subscription creates or uses its slot.
 *
 * @example
 * ```ts
 * import { subscribe } from 'slotstream';
 * const tables = ['public.todos'];
 * const sub = subscribe({ connectionString, slot: 'reader_1', publication: 'todo', tables });
 * for await (const event of sub) console.log(event.tag); // throws PublicationError if todo lacks the table
 * ```
 */
export class PublicationError extends SlotstreamError {
  constructor(
    readonly publication: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause, code: (cause as { code?: string } | undefined)?.code });
  }

  /** The publication does not exist: `tables` say what it would have to cover. */
  static missing(publication: string, tables: readonly string[] = []): PublicationError {
    return new PublicationError(
      publication,
      `publication "${publication}" does not exist in this database. Run \`slotstream migrate\` (it creates ` +
        'the publication for the streams your slotstream.config declares), or CREATE PUBLICATION ' +
        `"${publication}" FOR TABLE ${tables.length > 0 ? tables.join(', ') : '…'} yourself.`,
    );
  }

  /** The publication does not publish `actions` (its `publish` parameter): those changes never arrive. */
  static notPublishing(publication: string, actions: readonly string[]): PublicationError {
    return new PublicationError(
      publication,
      `publication "${publication}" does not publish ${actions.join(', ')}; those changes would never arrive. ` +
        `Run \`slotstream migrate\` (it restores them), or ALTER PUBLICATION "${publication}" SET (publish = ` +
        "'insert, update, delete, truncate').",
    );
  }

  /**
   * The walsender met a stretch of WAL written while the publication did not exist (dropped, then created
   * again): pgoutput reads publications as they were at each change, so that slot can never decode past it.
   */
  static missingInWal(publication: string, cause: unknown): PublicationError {
    return new PublicationError(
      publication,
      `publication "${publication}" did not exist for a stretch of the WAL this slot decodes, so its changes ` +
        'there are lost to the slot for good; the slot is recreated (a reset). Keep the publication in place ' +
        '(`slotstream migrate` creates it).',
      cause,
    );
  }

  /** The publication lacks `tables` (schema-qualified): their changes would never arrive. */
  static notCovering(publication: string, tables: readonly string[]): PublicationError {
    return new PublicationError(
      publication,
      `publication "${publication}" does not cover ${tables.join(', ')}; its changes would never arrive. ` +
        `Add them: ALTER PUBLICATION "${publication}" ADD TABLE ${tables.join(', ')} (or run \`slotstream migrate\`).`,
    );
  }

  /**
   * The publication publishes `tables` only in part (a row filter or a column list): changes to the rows or
   * columns it leaves out would never arrive.
   */
  static restricting(publication: string, tables: readonly string[]): PublicationError {
    return new PublicationError(
      publication,
      `publication "${publication}" publishes only some rows or columns of ${tables.join(', ')} (a row filter or ` +
        'a column list); changes to the others would never arrive. Run `slotstream migrate` (it publishes them ' +
        `whole again), or ALTER PUBLICATION "${publication}" SET TABLE with every table and no WHERE or column list.`,
    );
  }
}

/**
 * CREATE_REPLICATION_SLOT waited too long for running transactions to finish: `createSlot`'s
 * `lockTimeoutMs`, or a subscription's `slotCreationTimeoutMs` (default 30 s).
 *
 * @example
 * ```ts
 * import { createSlot } from 'slotstream';
 * // replication: a pg.Client connected with `replication: 'database'`
 * await createSlot(replication, 'reader_1', { lockTimeoutMs: 5_000 }); // if a transaction stays open 5 s
 * ```
 */
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

/**
 * A failover slot was asked for (`failover: true`) where PostgreSQL cannot make one: before 17, which has
 * no failover slots; for a temporary slot, which ends with its session and so is never synced; or on a
 * standby, where slots are synced from the primary rather than made failover slots. Raised before the
 * slot is created or changed.
 *
 * @example
 * ```ts
 * import { FailoverUnsupportedError, subscribe } from 'slotstream';
 * const sub = subscribe({ connectionString, slot: 'reader_1', publication: 'slotstream', failover: true });
 * try {
 *   for await (const event of sub) if (event.tag === 'commit') sub.ack(event);
 * } catch (error) {
 *   if (error instanceof FailoverUnsupportedError) console.error(error.reason); // 'version' on PostgreSQL 16
 * }
 * ```
 */
export class FailoverUnsupportedError extends SlotstreamError {
  constructor(
    readonly slot: string,
    readonly reason: 'version' | 'temporary' | 'standby',
    versionNum: number,
  ) {
    const why = {
      version: `failover slots need PostgreSQL 17 or later, and this server runs ${Math.floor(versionNum / 10000)}`,
      temporary: 'a temporary slot ends with its session, so no standby could take it over',
      standby:
        'this server is a standby: failover slots are made on the primary and synced to standbys, not made here',
    }[reason];
    super(
      `replication slot "${slot}" cannot be a failover slot: ${why}. Nothing was created or changed. ` +
        'Leave `failover` unset (or false; CLI `--no-failover`): the slot is then an ordinary one, and after a ' +
        'promotion its reader finds it gone and resets.',
    );
  }
}

/**
 * Any other error the server reported, in its own words, with the SQLSTATE and what we were doing.
 *
 * @example
 * ```ts
 * import { dropSlot, ServerError } from 'slotstream';
 * await dropSlot(client, 'reader_1').catch((error: unknown) => {
 *   if (error instanceof ServerError && error.code === '55006') console.error('a reader still holds it');
 *   else throw error;
 * });
 * ```
 */
export class ServerError extends SlotstreamError {
  constructor(doing: string, cause: { message: string; code?: string }) {
    const state = sqlState(cause);
    super(`${doing} failed: ${cause.message}${state ? ` (SQLSTATE ${state})` : ''}`, { cause, code: state });
  }
}

/**
 * The slot name is taken by a slot of another kind or in another database. Thrown by iterating a
 * subscription (and so by `StreamReader.start`).
 *
 * @example
 * ```ts
 * import { SlotElsewhereError, StreamReader } from 'slotstream';
 * await StreamReader.start({ connectionString, slot: 'reader_1', streams }).catch((error: unknown) => {
 *   if (error instanceof SlotElsewhereError) console.error(`reader_1 belongs to ${error.slot.database}`);
 *   throw error;
 * });
 * ```
 */
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
 *
 * @example
 * ```ts
 * import { sqlState } from 'slotstream';
 * await db.raw('SELECT * FROM no_such_table').catch((error: unknown) => sqlState(error)); // '42P01'
 * ```
 */
export function sqlState(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || 'syscall' in err) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
