/**
 * The pgoutput decoder: one message in, one typed message out.
 *
 * Design (after node-postgres's pg-protocol parser and zero-cache's fork of kibae's pgoutput parser):
 * one reusable bounds-checked BinaryReader, a switch on the tag byte, column decoders and a row maker chosen
 * once per Relation message, and rows decoded straight from the message buffer into one reused array of
 * values (tuple-reader.ts), then made in one step (row-maker.ts). Nothing is allocated per message but the
 * message, its row and the values themselves.
 *
 * The parser is stateful:
 * - the relation cache, OID → Relation; a Relation message for a known OID replaces the entry (ALTER TABLE
 *   mid-stream, or the schema re-sent by each streamed block), and later DML carries the new object;
 * - whether it is inside a Stream Start … Stream Stop block, where DML, Relation, Type, Message and Truncate
 *   carry a leading xid.
 * The same parser handles protocol versions 1 to 4: everything it needs is in the bytes, except whether a
 * Stream Abort carries its abort LSN and time (protocol 4 with `streaming = parallel`); see
 * PgoutputParserOptions.
 */
import { BinaryReader, describeTag, TAG_NAMES } from './binary-reader.ts';
import { rowMaker } from './row-maker.ts';
import { type RelationEntry, TupleReader } from './tuple-reader.ts';
import {
  type BeginMessage,
  type CommitMessage,
  type DeleteMessage,
  type InsertMessage,
  type LogicalMessage,
  type OriginMessage,
  type PgoutputMessage,
  pgEpochMicrosToDate,
  type Relation,
  type RelationColumn,
  type RelationMessage,
  type ReplicaIdentity,
  type Row,
  type StreamAbortMessage,
  type StreamCommitMessage,
  type StreamStartMessage,
  type StreamStopMessage,
  type TruncateMessage,
  type TypeMessage,
  type UpdateMessage,
} from './types.ts';
import {
  BUILTIN_TYPE_OIDS,
  decoderFor,
  type StringDecoder,
  stringDecoderFor,
  type ValueDecoder,
} from './values.ts';

/** Message tag bytes. */
const Tag = {
  Begin: 0x42, // B
  Commit: 0x43, // C
  Origin: 0x4f, // O
  Relation: 0x52, // R
  Type: 0x59, // Y
  Insert: 0x49, // I
  Update: 0x55, // U
  Delete: 0x44, // D
  Truncate: 0x54, // T
  Message: 0x4d, // M
  StreamStart: 0x53, // S
  StreamStop: 0x45, // E
  StreamCommit: 0x63, // c
  StreamAbort: 0x41, // A
} as const;

/** Which tuples an Update or Delete carries. */
const Sub = {
  Key: 0x4b, // K
  Old: 0x4f, // O
  New: 0x4e, // N
} as const;

const STREAM_STOP: StreamStopMessage = Object.freeze({ tag: 'stream_stop' });

export interface PgoutputParserOptions {
  /**
   * The `streaming` option the decoding session was started with. It matters for one thing only: with
   * `'parallel'` (protocol 4) a Stream Abort carries the abort LSN and timestamp, otherwise it does not.
   * When omitted, the parser tells the two forms apart by the message's length (9 or 25 bytes); give it to
   * make the parser strict.
   */
  streaming?: 'off' | 'on' | 'parallel';
}

/**
 * The pgoutput decoder: `parse` turns one message's bytes into a typed `PgoutputMessage`, for protocol
 * versions 1 to 4. It is stateful (the relations announced so far, and whether it is inside a streamed
 * block), so keep one parser per replication stream, fed every message in order.
 *
 * @example
 * ```ts
 * import { PgoutputParser } from 'slotstream/pgoutput';
 * const parser = new PgoutputParser();
 * const sql = `SELECT data FROM pg_logical_slot_peek_binary_changes('debug_1', NULL, 100,
 *   'proto_version', '1', 'publication_names', 'slotstream')`;
 * const { rows } = await client.query<{ data: Buffer }>(sql);
 * for (const { data } of rows) console.log(parser.parse(data)); // begin, relation, insert, …, commit
 * ```
 */
export class PgoutputParser {
  readonly #reader = new BinaryReader();
  readonly #relations = new Map<number, RelationEntry>();
  /** Type OID (a domain) → the built-in base type its Type message named. */
  readonly #baseTypes = new Map<number, number>();
  readonly #streaming: PgoutputParserOptions['streaming'];
  #inStream = false;
  /** The relation of the last change: consecutive changes are mostly to one table. */
  #lastOid = -1;
  #lastEntry: RelationEntry | undefined;
  readonly #tuples = new TupleReader();

  constructor(options: PgoutputParserOptions = {}) {
    this.#streaming = options.streaming;
  }

  /** Inside a Stream Start … Stream Stop block. */
  get inStream(): boolean {
    return this.#inStream;
  }

  /** The relation the last Relation message for `oid` described. */
  relation(oid: number): Relation | undefined {
    return this.#relations.get(oid)?.relation;
  }

  /**
   * Takes over every relation `other` knows (replacing ours for the same OIDs). For a consumer that parses
   * a streamed transaction's messages with a parser of its own: once that transaction commits, pgoutput
   * treats the Relation messages it sent inside it as sent, and later transactions rely on them.
   */
  adoptRelations(other: PgoutputParser): void {
    for (const [oid, entry] of other.#relations) this.#relations.set(oid, entry);
    for (const [oid, base] of other.#baseTypes) this.#baseTypes.set(oid, base);
    this.#lastOid = -1;
  }

  /**
   * Decodes exactly one pgoutput message: `buf[start, end)` (by default the whole buffer), i.e. the bytes
   * after the XLogData header, or one `data` value of pg_logical_slot_peek_binary_changes. Throws
   * MalformedMessageError for truncated or trailing bytes, unknown tags and sub-tags, invalid values and
   * DML for a relation never described. Values in the result never reference `buf`.
   */
  parse(buf: Buffer, start = 0, end: number = buf.length): PgoutputMessage {
    const r = this.#reader;
    r.reset(buf, start, end);
    try {
      const tag = r.uint8();
      r.tag = TAG_NAMES[tag] as string;
      let msg: PgoutputMessage;
      switch (tag) {
        case Tag.Begin:
          msg = this.#begin(r);
          break;
        case Tag.Commit:
          msg = this.#commit(r);
          break;
        case Tag.Origin:
          msg = this.#origin(r);
          break;
        case Tag.Relation:
          msg = this.#relationMessage(r);
          break;
        case Tag.Type:
          msg = this.#type(r);
          break;
        case Tag.Insert:
          msg = this.#insert(r);
          break;
        case Tag.Update:
          msg = this.#update(r);
          break;
        case Tag.Delete:
          msg = this.#delete(r);
          break;
        case Tag.Truncate:
          msg = this.#truncate(r);
          break;
        case Tag.Message:
          msg = this.#message(r);
          break;
        case Tag.StreamStart:
          msg = this.#streamStart(r);
          break;
        case Tag.StreamStop:
          if (!this.#inStream) throw r.error('Stream Stop outside a Stream Start block', start);
          this.#inStream = false;
          msg = STREAM_STOP;
          break;
        case Tag.StreamCommit:
          msg = this.#streamCommit(r);
          break;
        case Tag.StreamAbort:
          msg = this.#streamAbort(r);
          break;
        default:
          throw r.error(`unknown message tag ${describeTag(tag)}`, start);
      }
      if (r.pos !== r.end) throw r.error(`${r.end - r.pos} unexpected trailing byte(s)`);
      return msg;
    } finally {
      r.release();
    }
  }

  #xid(r: BinaryReader): number | undefined {
    return this.#inStream ? r.uint32() : undefined;
  }

  #begin(r: BinaryReader): BeginMessage {
    const finalLsn = r.uint64();
    const micros = r.int64();
    const xid = r.uint32();
    return { tag: 'begin', finalLsn, commitTime: pgEpochMicrosToDate(micros), commitTimeMicros: micros, xid };
  }

  #commit(r: BinaryReader): CommitMessage {
    const flags = r.uint8();
    const commitLsn = r.uint64();
    const endLsn = r.uint64();
    const micros = r.int64();
    return {
      tag: 'commit',
      flags,
      commitLsn,
      endLsn,
      commitTime: pgEpochMicrosToDate(micros),
      commitTimeMicros: micros,
    };
  }

  #origin(r: BinaryReader): OriginMessage {
    const originLsn = r.uint64();
    return { tag: 'origin', originLsn, originName: r.cstring() };
  }

  #relationMessage(r: BinaryReader): RelationMessage {
    const xid = this.#xid(r);
    const oid = r.uint32();
    const schema = r.cstring();
    const name = r.cstring();
    const identAt = r.pos;
    const ident = r.uint8();
    if (ident !== 0x64 && ident !== 0x6e && ident !== 0x66 && ident !== 0x69)
      throw r.error(`unknown replica identity ${describeTag(ident)}`, identAt);
    const count = r.int16();
    if (count < 0) throw r.error(`negative column count ${count}`, r.pos - 2);
    const columns: RelationColumn[] = new Array(count);
    const names: string[] = new Array(count);
    const decoders: ValueDecoder[] = new Array(count);
    const stringDecoders: (StringDecoder | undefined)[] = new Array(count);
    const keys: boolean[] = new Array(count);
    let nullProto = false;
    for (let i = 0; i < count; i++) {
      const flags = r.uint8();
      const colName = r.cstring();
      const typeOid = r.uint32();
      const typeMod = r.int32();
      const isKey = (flags & 1) !== 0;
      columns[i] = { name: colName, typeOid, typeMod, isKey };
      names[i] = colName;
      const decodedAs = this.#baseTypes.get(typeOid) ?? typeOid;
      decoders[i] = decoderFor(decodedAs);
      stringDecoders[i] = stringDecoderFor(decodedAs);
      keys[i] = isKey;
      if (colName === '__proto__') nullProto = true;
    }
    const relation: Relation = {
      oid,
      schema,
      name,
      replicaIdentity: String.fromCharCode(ident) as ReplicaIdentity,
      columns,
    };
    this.#relations.set(oid, {
      relation,
      names,
      decoders,
      stringDecoders,
      keys,
      makeRow: rowMaker(names),
      nullProto,
      fastPathPause: 0,
    });
    if (oid === this.#lastOid) this.#lastOid = -1;
    return { tag: 'relation', xid, relation };
  }

  #type(r: BinaryReader): TypeMessage {
    const xid = this.#xid(r);
    const typeOid = r.uint32();
    const schema = r.cstring();
    const name = r.cstring();
    // For a domain pgoutput names the base type; an empty schema means pg_catalog.
    const base = schema === '' ? BUILTIN_TYPE_OIDS.get(name) : undefined;
    if (base !== undefined) this.#baseTypes.set(typeOid, base);
    else this.#baseTypes.delete(typeOid);
    return { tag: 'type', xid, typeOid, schema, name };
  }

  #entry(r: BinaryReader): RelationEntry {
    const at = r.pos;
    const oid = r.uint32();
    if (oid === this.#lastOid) return this.#lastEntry as RelationEntry;
    const entry = this.#relations.get(oid);
    if (entry === undefined)
      throw r.error(
        `relation OID ${oid} has not been described by a Relation message in this decoding session ` +
          '(was the parser shared between sessions, or created after the session began?)',
        at,
      );
    this.#lastOid = oid;
    this.#lastEntry = entry;
    return entry;
  }

  #expect(r: BinaryReader, sub: number, what: string): void {
    const at = r.pos;
    const got = r.uint8();
    if (got !== sub) throw r.error(`expected ${describeTag(sub)} (${what}), got ${describeTag(got)}`, at);
  }

  #insert(r: BinaryReader): InsertMessage {
    const xid = this.#xid(r);
    const entry = this.#entry(r);
    this.#expect(r, Sub.New, 'new tuple');
    return { tag: 'insert', xid, relation: entry.relation, new: this.#tuples.read(r, entry, false) };
  }

  #update(r: BinaryReader): UpdateMessage {
    const xid = this.#xid(r);
    const entry = this.#entry(r);
    let key: Row | null = null;
    let old: Row | null = null;
    const at = r.pos;
    const sub = r.uint8();
    if (sub === Sub.Key) {
      key = this.#tuples.read(r, entry, true);
      this.#expect(r, Sub.New, 'new tuple after the key');
    } else if (sub === Sub.Old) {
      old = this.#tuples.read(r, entry, false);
      this.#expect(r, Sub.New, 'new tuple after the old tuple');
    } else if (sub !== Sub.New) {
      throw r.error(`unknown update sub-tag ${describeTag(sub)} (expected K, O or N)`, at);
    }
    return {
      tag: 'update',
      xid,
      relation: entry.relation,
      key,
      old,
      new: this.#tuples.read(r, entry, false),
    };
  }

  #delete(r: BinaryReader): DeleteMessage {
    const xid = this.#xid(r);
    const entry = this.#entry(r);
    const at = r.pos;
    const sub = r.uint8();
    if (sub === Sub.Key)
      return {
        tag: 'delete',
        xid,
        relation: entry.relation,
        key: this.#tuples.read(r, entry, true),
        old: null,
      };
    if (sub === Sub.Old)
      return {
        tag: 'delete',
        xid,
        relation: entry.relation,
        key: null,
        old: this.#tuples.read(r, entry, false),
      };
    throw r.error(`unknown delete sub-tag ${describeTag(sub)} (expected K or O)`, at);
  }

  #truncate(r: BinaryReader): TruncateMessage {
    const xid = this.#xid(r);
    const countAt = r.pos;
    const count = r.int32();
    if (count < 0) throw r.error(`negative relation count ${count}`, countAt);
    const flags = r.uint8();
    // Each OID takes 4 bytes: check up front so a bogus count cannot allocate a huge array.
    if (r.remaining < count * 4)
      throw r.error(`truncated: ${count} relation OID(s) need ${count * 4} bytes but ${r.remaining} remain`);
    const relations: Relation[] = new Array(count);
    for (let i = 0; i < count; i++) relations[i] = this.#entry(r).relation;
    return {
      tag: 'truncate',
      xid,
      relations,
      cascade: (flags & 1) !== 0,
      restartIdentity: (flags & 2) !== 0,
    };
  }

  #message(r: BinaryReader): LogicalMessage {
    const xid = this.#xid(r);
    const flags = r.uint8();
    const lsn = r.uint64();
    const prefix = r.cstring();
    const len = r.int32();
    const content = Buffer.from(r.subarray(len, 'message content'));
    return { tag: 'message', xid, transactional: (flags & 1) !== 0, flags, lsn, prefix, content };
  }

  #streamStart(r: BinaryReader): StreamStartMessage {
    if (this.#inStream) throw r.error('Stream Start inside a Stream Start block', r.start);
    const xid = r.uint32();
    const first = r.uint8();
    this.#inStream = true;
    return { tag: 'stream_start', xid, firstSegment: first === 1 };
  }

  #streamCommit(r: BinaryReader): StreamCommitMessage {
    const xid = r.uint32();
    const flags = r.uint8();
    const commitLsn = r.uint64();
    const endLsn = r.uint64();
    const micros = r.int64();
    return {
      tag: 'stream_commit',
      xid,
      flags,
      commitLsn,
      endLsn,
      commitTime: pgEpochMicrosToDate(micros),
      commitTimeMicros: micros,
    };
  }

  #streamAbort(r: BinaryReader): StreamAbortMessage {
    const xid = r.uint32();
    const subxid = r.uint32();
    // Abort LSN and time: protocol 4 with streaming = parallel only. Without the option, the length decides.
    const withInfo = this.#streaming === undefined ? r.remaining > 0 : this.#streaming === 'parallel';
    if (!withInfo)
      return { tag: 'stream_abort', xid, subxid, abortLsn: null, abortTime: null, abortTimeMicros: null };
    const abortLsn = r.uint64();
    const micros = r.int64();
    return {
      tag: 'stream_abort',
      xid,
      subxid,
      abortLsn,
      abortTime: pgEpochMicrosToDate(micros),
      abortTimeMicros: micros,
    };
  }
}
