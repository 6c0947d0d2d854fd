/**
 * What each writer endpoint writes, one StreamWriter transaction each. Inputs arrive checked (input.ts);
 * the checks left for the database are those that need it, the sender's membership of the room and a
 * receipt's event, made just before the write (concurrent requests' membership checks as one query), so a
 * refused write allocates no position; an idempotent send checks inside its transaction, which reads anyway.
 */

import { type MissingPrivilege, missingPrivileges, type StreamWriter, sqlState } from 'slotstream';
import { HttpError } from '../http/index.ts';
import {
  accountDataStream,
  CHAT_STREAMS,
  eventsStream,
  MEMBERSHIP_EVENT,
  receiptsStream,
  toDeviceStream,
} from '../streams.ts';
import { newEventId } from './event-id.ts';
import type {
  AccountDataInput,
  MembershipInput,
  ReceiptInput,
  SendInput,
  SendOnceInput,
  ToDeviceDeleteInput,
  ToDeviceInput,
} from './input.ts';
import { MembershipCheck, requireMember } from './membership.ts';

export const READ_RECEIPT = 'm.read';

export interface EventWritten {
  event_id: string;
  /** The event row's position. */
  stream_ordering: bigint;
  /** The transaction's position: what a reader's `/wait` takes. */
  position: bigint;
}

export class ChatWrites {
  readonly #members: MembershipCheck;

  constructor(readonly writer: StreamWriter) {
    this.#members = new MembershipCheck(writer.knex);
  }

  /** An `m.room.member` event whose state key is the member. Anyone may join a room; only a member leaves it. */
  membership(input: MembershipInput): Promise<EventWritten> {
    return this.#event(
      {
        room_id: input.roomId,
        sender: input.userId,
        type: MEMBERSHIP_EVENT,
        state_key: input.userId,
        content: { membership: input.membership },
      },
      input.membership === 'leave',
    );
  }

  /** A member's event in the room. */
  send(input: SendInput): Promise<EventWritten> {
    return this.#event(
      {
        room_id: input.roomId,
        sender: input.sender,
        type: input.type,
        state_key: null,
        content: input.content,
      },
      true,
    );
  }

  /**
   * A send the client may retry: the first one with this (sender, transaction id) writes the event and
   * records the id in the same transaction; any later one returns that event. Two at once: the second's
   * record hits the first's key and fails alone, after the first committed, and finds it.
   */
  async sendOnce(input: SendOnceInput): Promise<EventWritten> {
    const earlier = await this.#sentWith(input.sender, input.txnId);
    if (earlier) return earlier;
    const event_id = newEventId();
    try {
      const { value: ref, position } = await this.writer.transaction(async (tx) => {
        await requireMember(tx.knex, input.roomId, input.sender);
        await tx.knex('event_txns').insert({ sender: input.sender, txn_id: input.txnId, event_id });
        return tx.insert(eventsStream, {
          event_id,
          room_id: input.roomId,
          sender: input.sender,
          type: input.type,
          state_key: null,
          content: input.content,
          origin_server_ts: Date.now(),
        });
      });
      return { event_id, stream_ordering: ref.position, position };
    } catch (error) {
      const first = sqlState(error) === '23505' ? await this.#sentWith(input.sender, input.txnId) : undefined;
      if (first) return first;
      throw error;
    }
  }

  /** The event a (sender, transaction id) wrote, if any; its position is its row's. */
  async #sentWith(sender: string, txnId: string): Promise<EventWritten | undefined> {
    const row = await this.writer
      .knex('event_txns')
      .join('events', 'events.event_id', 'event_txns.event_id')
      .where({ 'event_txns.sender': sender, 'event_txns.txn_id': txnId })
      .first<{ event_id: string; stream_ordering: string } | undefined>(
        'events.event_id',
        'events.stream_ordering',
      );
    if (row === undefined) return undefined;
    const position = BigInt(row.stream_ordering);
    return { event_id: row.event_id, stream_ordering: position, position };
  }

  /** An event; with `membersOnly`, refused (403) unless the sender is a member of the room. */
  async #event(
    fields: {
      room_id: string;
      sender: string;
      type: string;
      state_key: string | null;
      content: Record<string, unknown>;
    },
    membersOnly: boolean,
  ): Promise<EventWritten> {
    const event_id = newEventId();
    // Checked just before the write rather than in its transaction: a write that reads nothing there joins
    // its batch's single INSERT, where one that queries runs alone from a savepoint (StreamWriter). Only
    // the user's own leave, sent at the same moment, could commit between the check and the write.
    if (membersOnly) await this.#members.require(fields.room_id, fields.sender);
    const { value: ref, position } = await this.writer.transaction((tx) =>
      tx.insert(eventsStream, { event_id, ...fields, origin_server_ts: Date.now() }),
    );
    return { event_id, stream_ordering: ref.position, position };
  }

  /**
   * The user's read receipt in the room, replacing their previous one. Refused with 403 M_FORBIDDEN when the
   * user is not a member, and with 400 M_NOT_FOUND when the event is not in that room (unknown, or another
   * room's): the request is well-formed, its event is not there, and the code lets a client tell that apart
   * from malformed input (M_BAD_JSON).
   */
  async receipt(input: ReceiptInput): Promise<bigint> {
    // Both checked before the write, as for sends (#event): an event never leaves its room.
    await this.#members.require(input.roomId, input.userId);
    const found = await this.writer
      .knex('events')
      .where({ event_id: input.eventId, room_id: input.roomId })
      .first(this.writer.knex.raw('1 AS found'));
    if (found === undefined)
      throw new HttpError(400, 'M_NOT_FOUND', `event ${input.eventId} is not in room ${input.roomId}`);
    const { position } = await this.writer.transaction((tx) => {
      tx.insert(
        receiptsStream,
        {
          room_id: input.roomId,
          user_id: input.userId,
          receipt_type: READ_RECEIPT,
          event_id: input.eventId,
          ts: Date.now(),
        },
        { onConflict: ['room_id', 'user_id', 'receipt_type'] },
      );
    });
    return position;
  }

  async accountData(input: AccountDataInput): Promise<bigint> {
    const { position } = await this.writer.transaction((tx) => {
      tx.insert(
        accountDataStream,
        { user_id: input.userId, type: input.type, content: input.content },
        { onConflict: ['user_id', 'type'] },
      );
    });
    return position;
  }

  async toDevice(input: ToDeviceInput): Promise<bigint> {
    const { position } = await this.writer.transaction((tx) => {
      tx.insert(toDeviceStream, {
        user_id: input.userId,
        device_id: input.deviceId,
        sender: null,
        type: input.type,
        content: input.content,
      });
    });
    return position;
  }

  /**
   * Deletes the user's to-device messages up to a position, once a reader has delivered them (readers never
   * write to the database). A transaction of the writer's, so it has a position like any other write.
   */
  async deleteToDevice(input: ToDeviceDeleteInput): Promise<{ deleted: number; position: bigint }> {
    // Readers report deliveries on every incremental sync; most find nothing left to delete, and must not
    // cost a writer transaction (and a position every reader applies) each.
    const pending = await this.writer
      .knex('device_inbox')
      .where('user_id', input.userId)
      .andWhere('stream_id', '<=', input.upto.toString())
      .first('stream_id');
    if (pending === undefined) return { deleted: 0, position: await this.head() };
    const { value: deleted, position } = await this.writer.transaction((tx) =>
      tx
        .knex('device_inbox')
        .where('user_id', input.userId)
        .andWhere('stream_id', '<=', input.upto.toString())
        .delete(),
    );
    return { deleted, position };
  }

  /** 403 M_FORBIDDEN unless the user has joined the room (for writes outside a transaction: typing). */
  requireMember(roomId: string, userId: string): Promise<void> {
    return this.#members.require(roomId, userId);
  }

  /** The highest committed position. */
  head(): Promise<bigint> {
    return this.writer.head();
  }

  /**
   * What the writer's role lacks, if anything, each with its GRANT: what writing the streams takes, and the
   * application's own table of idempotent sends (event_txns), which is no stream.
   */
  missingPrivileges(): Promise<MissingPrivilege[]> {
    return missingPrivileges((sql) => this.writer.knex.raw(sql), 'writer', CHAT_STREAMS, {
      tables: { event_txns: ['SELECT', 'INSERT'] },
    });
  }
}
