/**
 * Each writer endpoint's input, read from its path parameters and JSON body and checked completely before
 * any SQL runs: a request that fails here gets 400 `{"error","message"}` and writes nothing. Path parameters
 * fail with M_INVALID_PARAM, body fields with M_BAD_JSON (src/app/http/validate.ts); a body that is not
 * JSON, or over 64 KiB, fails earlier, in the router (M_NOT_JSON, M_TOO_LARGE). The user acted for is the
 * caller's (`callerId`, from the access token): one named in the request must be them (403 M_FORBIDDEN).
 */

import { actingUser } from '../auth/acting-user.ts';
import {
  badJson,
  invalidParam,
  MAX_ID_BYTES,
  optionalInteger,
  requireBoolean,
  requireObject,
  requireString,
  validateEventId,
  validateEventType,
  validateRoomId,
  validateTxnId,
  validateUserId,
} from '../http/index.ts';
import { MEMBERSHIP_EVENT } from '../streams.ts';
import { requireContent } from './json-content.ts';

export type Membership = 'join' | 'leave';

/** Typing timeouts, in milliseconds: two minutes at most. */
export const TYPING_TIMEOUT_BOUNDS = { min: 1, max: 120_000 } as const;
export const DEFAULT_TYPING_TIMEOUT_MS = 30_000;

/** The largest position a client can name: positions are PostgreSQL bigints. */
const MAX_POSITION = 2n ** 63n - 1n;
const CONTROL = /\p{Cc}/u;

type Params = Record<string, string>;

export interface MembershipInput {
  roomId: string;
  userId: string;
  membership: Membership;
}

export function membershipInput(
  params: Params,
  body: unknown,
  membership: Membership,
  callerId: string,
): MembershipInput {
  const roomId = validateRoomId(params.roomId, 'roomId');
  const obj = requireObject(body);
  return { roomId, userId: actingUser(obj.user_id, 'user_id', callerId, 'body'), membership };
}

export interface SendInput {
  roomId: string;
  sender: string;
  type: string;
  content: Record<string, unknown>;
}

export function sendInput(params: Params, body: unknown, callerId: string): SendInput {
  const roomId = validateRoomId(params.roomId, 'roomId');
  const obj = requireObject(body);
  const sender = actingUser(obj.sender, 'sender', callerId, 'body');
  const type = sendable(validateEventType(obj.type, 'type', 'body'), badJson);
  return { roomId, sender, type, content: requireContent(obj.content, 'content') };
}

/** A send with the client's transaction id: a retry of it returns the first result. */
export interface SendOnceInput extends SendInput {
  txnId: string;
}

/** `PUT /rooms/:roomId/send/:eventType/:txnId`, body `{"sender"?, "content"}`. */
export function sendOnceInput(params: Params, body: unknown, callerId: string): SendOnceInput {
  const roomId = validateRoomId(params.roomId, 'roomId');
  const type = sendable(validateEventType(params.eventType, 'eventType'), invalidParam);
  const txnId = validateTxnId(params.txnId, 'txnId');
  const obj = requireObject(body);
  const sender = actingUser(obj.sender, 'sender', callerId, 'body');
  return { roomId, sender, type, content: requireContent(obj.content, 'content'), txnId };
}

/**
 * Membership has its own endpoints, which set state_key; an m.room.member without one would make the
 * member's room list depend on which endpoint wrote it.
 */
function sendable(type: string, refuse: (message: string) => Error): string {
  if (type === MEMBERSHIP_EVENT)
    throw refuse(`type ${MEMBERSHIP_EVENT} cannot be sent: use POST /rooms/:roomId/join or /leave`);
  return type;
}

export interface ReceiptInput {
  roomId: string;
  userId: string;
  eventId: string;
}

export function receiptInput(params: Params, body: unknown, callerId: string): ReceiptInput {
  const roomId = validateRoomId(params.roomId, 'roomId');
  const obj = requireObject(body);
  return {
    roomId,
    userId: actingUser(obj.user_id, 'user_id', callerId, 'body'),
    eventId: validateEventId(obj.event_id, 'event_id', 'body'),
  };
}

export interface TypingInput {
  roomId: string;
  userId: string;
  typing: boolean;
  /** 0 when not typing. */
  timeoutMs: number;
}

export function typingInput(params: Params, body: unknown, callerId: string): TypingInput {
  const roomId = validateRoomId(params.roomId, 'roomId');
  const userId = actingUser(params.userId, 'userId', callerId, 'param');
  const obj = requireObject(body);
  const typing = requireBoolean(obj, 'typing');
  // Checked even when typing is false, so a bad value is never accepted silently.
  const timeout = optionalInteger(obj, 'timeout_ms', TYPING_TIMEOUT_BOUNDS);
  return { roomId, userId, typing, timeoutMs: typing ? (timeout ?? DEFAULT_TYPING_TIMEOUT_MS) : 0 };
}

export interface AccountDataInput {
  userId: string;
  type: string;
  content: Record<string, unknown>;
}

export function accountDataInput(params: Params, body: unknown, callerId: string): AccountDataInput {
  return {
    userId: actingUser(params.userId, 'userId', callerId, 'param'),
    type: validateEventType(params.type, 'type'),
    content: requireContent(body, 'request body'),
  };
}

export interface ToDeviceInput {
  userId: string;
  deviceId: string;
  type: string;
  content: Record<string, unknown>;
}

export function toDeviceInput(params: Params, body: unknown, callerId: string): ToDeviceInput {
  const userId = actingUser(params.userId, 'userId', callerId, 'param');
  const obj = requireObject(body);
  const deviceId = requireString(obj, 'device_id', { maxLength: MAX_ID_BYTES });
  if (CONTROL.test(deviceId)) throw badJson('device_id must not contain control characters');
  return {
    userId,
    deviceId,
    type: validateEventType(obj.type, 'type', 'body'),
    content: requireContent(obj.content, 'content'),
  };
}

export interface ToDeviceDeleteInput {
  userId: string;
  /** Every message of the user at or below this position goes. */
  upto: bigint;
}

export function toDeviceDeleteInput(body: unknown, callerId: string): ToDeviceDeleteInput {
  const obj = requireObject(body);
  const userId = actingUser(obj.user_id, 'user_id', callerId, 'body');
  const upto = obj.upto;
  if (typeof upto !== 'string' || !/^(0|[1-9][0-9]{0,18})$/.test(upto) || BigInt(upto) > MAX_POSITION)
    throw badJson(`upto must be a position: a string of decimal digits, got ${preview(upto)}`);
  return { userId, upto: BigInt(upto) };
}

/** `POST /register`, body `{"user_id"}`. */
export function registerInput(body: unknown): string {
  return validateUserId(requireObject(body).user_id, 'user_id', 'body');
}

/** A value as a short JSON snippet for a message. */
function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
