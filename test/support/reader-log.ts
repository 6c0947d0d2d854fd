import { readFileSync } from 'node:fs';
import { parseLsn } from '../../src/replication/lsn.ts';

export interface DeliveredTransaction {
  commitLsn: bigint;
  endLsn: bigint;
  rows?: number[];
  count?: number;
  sum?: number;
}

export type ReaderLogRecord =
  | ({ kind: 'tx' } & DeliveredTransaction)
  | { kind: 'start'; confirmedFlush: bigint | null }
  | { kind: 'reset'; reason: string }
  | { kind: 'rss'; maxRssKb: number };

/** Parses reader-process.ts's log. A last line cut short by SIGKILL is ignored. */
export function readReaderLog(file: string): ReaderLogRecord[] {
  const out: ReaderLogRecord[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch {
      continue;
    }
    if ('commitLsn' in r) {
      out.push({
        kind: 'tx',
        commitLsn: BigInt(r.commitLsn as string),
        endLsn: BigInt(r.endLsn as string),
        rows: r.rows as number[] | undefined,
        count: r.count as number | undefined,
        sum: r.sum as number | undefined,
      });
    } else if ('start' in r) {
      out.push({ kind: 'start', confirmedFlush: r.start === null ? null : parseLsn(r.start as string) });
    } else if ('reset' in r) {
      out.push({ kind: 'reset', reason: r.reset as string });
    } else if ('maxRssKb' in r) {
      out.push({ kind: 'rss', maxRssKb: r.maxRssKb as number });
    }
  }
  return out;
}
