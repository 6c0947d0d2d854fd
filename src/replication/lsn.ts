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
  if (lsn >= 0n && lsn < EXACT_LIMIT) {
    // `slotstream tail` prints one per change: as a double, the halves need no bigint arithmetic.
    const n = Number(lsn);
    const high = Math.floor(n / TWO_32);
    return `${hex32(high)}/${hex32(n - high * TWO_32)}`;
  }
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** 2^32, and 2^53: below it an LSN is exact as a double (8 PiB of WAL). */
const TWO_32 = 0x1_0000_0000;
const EXACT_LIMIT = 1n << 53n;

/** Each byte as two upper-case hex digits. */
const HEX_BYTES = Array.from({ length: 256 }, (_, byte) => byte.toString(16).toUpperCase().padStart(2, '0'));

/**
 * `n` (0 to 2^32 - 1) in upper-case hex without leading zeros: from a table of bytes, since Number's
 * toString(16) and toUpperCase are each a call into the runtime.
 */
function hex32(n: number): string {
  if (n === 0) return '0';
  const text =
    (HEX_BYTES[n >>> 24] as string) +
    HEX_BYTES[(n >>> 16) & 0xff] +
    HEX_BYTES[(n >>> 8) & 0xff] +
    HEX_BYTES[n & 0xff];
  return text.slice(Math.clz32(n) >> 2);
}
