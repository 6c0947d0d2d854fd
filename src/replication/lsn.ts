/**
 * A WAL position. PostgreSQL prints it as two hex halves, `16/B374D848`; we keep it as an unsigned 64-bit
 * bigint so that comparisons and arithmetic are exact.
 */
export type Lsn = bigint;

export const ZERO_LSN: Lsn = 0n;

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/**
 * An LSN from PostgreSQL's text form (`16/B374D848`, as pg_replication_slots shows it); throws TypeError
 * for any other text.
 *
 * @example
 * ```ts
 * import { formatLsn, parseLsn } from 'slotstream';
 * const lsn = parseLsn('16/B374D848'); // 0x16B374D848n
 * formatLsn(lsn + 8n); // '16/B374D850'
 * ```
 */
export function parseLsn(text: string): Lsn {
  const m = LSN_TEXT.exec(text);
  if (!m) throw new TypeError(`not an LSN: ${JSON.stringify(text)} (expected the form 16/B374D848)`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/**
 * An LSN in PostgreSQL's text form: two upper-case hex halves, `16/B374D848`.
 *
 * @example
 * ```ts
 * import { formatLsn } from 'slotstream';
 * formatLsn(reader.stats.appliedLsn); // e.g. '0/1A2B3C8'
 * ```
 */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
