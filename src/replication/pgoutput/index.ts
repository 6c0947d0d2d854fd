/// <reference types="node" preserve="true" />
// Published declarations use Node's types (Buffer, NodeJS.*); TypeScript 6+ loads @types/node only if told.
/** The pgoutput decoder: parser, message types and value decoding. */
export { BinaryReader, describeTag } from './binary-reader.ts';
export { PgoutputParser, type PgoutputParserOptions } from './parser.ts';
export type {
  BeginMessage,
  CommitMessage,
  DeleteMessage,
  InsertMessage,
  LogicalMessage,
  OriginMessage,
  PgoutputMessage,
  PgoutputTag,
  Relation,
  RelationColumn,
  RelationMessage,
  ReplicaIdentity,
  Row,
  StreamAbortMessage,
  StreamCommitMessage,
  StreamStartMessage,
  StreamStopMessage,
  TruncateMessage,
  TypeMessage,
  UpdateMessage,
} from './types.ts';
export { PG_EPOCH_OFFSET_MICROS, pgEpochMicrosToDate } from './types.ts';
export {
  decoderFor,
  type ElementDecoder,
  type JsonValue,
  type PgArray,
  type PgScalar,
  type PgValue,
  parseArrayLiteral,
  TypeOid,
  textToBigInt,
  textToBool,
  textToBytea,
  textToFloat,
  textToInt,
  textToJson,
  textToString,
  textToTimestamp,
  textToTimestamptz,
  UNCHANGED_TOAST,
  UnchangedToast,
  type ValueDecoder,
} from './values.ts';
