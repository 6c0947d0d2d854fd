/**
 * Differential test: the captured non-streamed frames decoded by our parser and by pg-logical-replication's
 * (kibae/pg-logical-replication 2.x, `PgoutputPlugin.parse`, which uses node-postgres's pg-types text
 * parsers) must agree once our exact types are mapped to what pg-types produces:
 *
 * | ours                                   | theirs (pg-types)                                  | mapping applied to ours      |
 * |----------------------------------------|----------------------------------------------------|------------------------------|
 * | int8 bigint, int8[] bigint[]           | string                                             | String(v)                    |
 * | numeric[] string[]                     | parseFloat per element (lossy!)                    | Number.parseFloat(v)         |
 * | date 'YYYY-MM-DD' / '… BC' / infinity  | Date at LOCAL midnight / ±Infinity                 | same construction, TZ=UTC    |
 * | timestamp Date (UTC) / 'infinity'      | Date from LOCAL wall time / ±Infinity              | TZ=UTC; 'infinity' → Infinity|
 * | timestamptz Date / 'infinity'          | Date / ±Infinity                                   | 'infinity' → Infinity        |
 * | name[] string[]                        | the array text (no parser registered for 1003)     | `{a,b}` (simple values only) |
 * | domain over int4: number               | string (domain OID unknown to pg-types)            | String(v)                    |
 * | interval: text                         | PostgresInterval object                            | column left out              |
 * | UNCHANGED_TOAST                        | undefined, or the old tuple's value in the O form  | the same                     |
 * | LSN bigint                             | 'XXXXXXXX/XXXXXXXX' (null for 0)                   | formatted alike              |
 * | commitTimeMicros (PostgreSQL epoch)    | bigint µs since the Unix epoch                     | + 946684800000000n           |
 *
 * Their parser reads OIDs as signed int32; every OID in the fixtures is below 2^31 so they agree.
 */
process.env.TZ = 'UTC'; // pg-types reads timestamp without time zone and date as local time

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgoutputPlugin } from 'pg-logical-replication';
import {
  type PgoutputMessage,
  PgoutputParser,
  type PgValue,
  type Relation,
  type Row,
  TypeOid,
  UNCHANGED_TOAST,
} from '../../src/replication/pgoutput/index.ts';
import { frames, loadFixtures } from './fixtures/pgoutput/load.ts';

const lsnText = (lsn: bigint | null) =>
  lsn === null || lsn === 0n
    ? null
    : `${(lsn >> 32n).toString(16).padStart(8, '0')}/${(lsn & 0xffffffffn).toString(16).padStart(8, '0')}`.toUpperCase();

function pgTypesDate(v: PgValue): unknown {
  if (v === 'infinity') return Number.POSITIVE_INFINITY;
  if (v === '-infinity') return Number.NEGATIVE_INFINITY;
  if (typeof v !== 'string') return v;
  const m = /^(\d+)-(\d\d)-(\d\d)( BC)?$/.exec(v);
  assert.ok(m, v);
  const year = m[4] ? 1 - Number(m[1]) : Number(m[1]);
  const d = new Date(2000, Number(m[2]) - 1, Number(m[3]));
  d.setFullYear(year);
  return d;
}

function infinityToNumber(v: unknown): unknown {
  if (v === 'infinity') return Number.POSITIVE_INFINITY;
  if (v === '-infinity') return Number.NEGATIVE_INFINITY;
  return v;
}

function mapArray(v: PgValue, f: (x: unknown) => unknown): unknown {
  return Array.isArray(v) ? v.map((x) => (Array.isArray(x) ? mapArray(x, f) : x === null ? null : f(x))) : v;
}

/** Our value as pg-types would have produced it (see the table above). */
function asPgTypes(v: PgValue, typeOid: number, typeName: string | undefined): unknown {
  if (v === null) return null;
  switch (typeOid) {
    case TypeOid.int8:
      return typeof v === 'bigint' ? String(v) : v;
    case TypeOid.int8Array:
      return mapArray(v, String);
    case TypeOid.numericArray:
      return mapArray(v, (x) => Number.parseFloat(x as string));
    case TypeOid.date:
      return pgTypesDate(v);
    case TypeOid.dateArray:
      return mapArray(v, (x) => pgTypesDate(x as PgValue));
    case TypeOid.timestamp:
    case TypeOid.timestamptz:
      return infinityToNumber(v);
    case TypeOid.timestampArray:
    case TypeOid.timestamptzArray:
      return mapArray(v, infinityToNumber);
    case TypeOid.nameArray:
      return Array.isArray(v) ? `{${v.join(',')}}` : v;
  }
  if (typeName === 'int4') return String(v); // a domain over int4: pg-types has no parser for its OID
  return v;
}

function expectedRow(
  row: Row | null,
  relation: Relation,
  typeNames: Map<number, string>,
  fallback: Row | null,
): unknown {
  if (row === null) return null;
  const out: Record<string, unknown> = {};
  for (const c of relation.columns) {
    if (!(c.name in row) || c.typeOid === TypeOid.interval) continue;
    const v = row[c.name] as PgValue;
    out[c.name] =
      v === UNCHANGED_TOAST
        ? fallback?.[c.name]
        : Buffer.isBuffer(v)
          ? v
          : asPgTypes(v, c.typeOid, typeNames.get(c.typeOid));
  }
  return out;
}

function theirRow(row: Record<string, unknown> | null, relation: Relation): unknown {
  if (row === null) return null;
  const out: Record<string, unknown> = {};
  for (const c of relation.columns)
    if (c.name in row && c.typeOid !== TypeOid.interval) out[c.name] = row[c.name];
  return out;
}

function compare(
  ours: PgoutputMessage,
  theirs: Record<string, unknown>,
  typeNames: Map<number, string>,
): void {
  switch (ours.tag) {
    case 'begin':
      assert.deepEqual(theirs, {
        tag: 'begin',
        commitLsn: lsnText(ours.finalLsn),
        commitTime: ours.commitTimeMicros + 946_684_800_000_000n,
        xid: ours.xid,
      });
      return;
    case 'commit':
      assert.deepEqual(theirs, {
        tag: 'commit',
        flags: ours.flags,
        commitLsn: lsnText(ours.commitLsn),
        commitEndLsn: lsnText(ours.endLsn),
        commitTime: ours.commitTimeMicros + 946_684_800_000_000n,
      });
      return;
    case 'origin':
      assert.deepEqual(theirs, {
        tag: 'origin',
        originLsn: lsnText(ours.originLsn),
        originName: ours.originName,
      });
      return;
    case 'type':
      typeNames.set(ours.typeOid, ours.name);
      assert.deepEqual(theirs, {
        tag: 'type',
        typeOid: ours.typeOid,
        typeSchema: ours.schema,
        typeName: ours.name,
      });
      return;
    case 'relation': {
      const r = ours.relation;
      assert.equal(theirs.relationOid, r.oid);
      assert.equal(theirs.schema, r.schema);
      assert.equal(theirs.name, r.name);
      assert.equal(
        theirs.replicaIdentity,
        { d: 'default', n: 'nothing', f: 'full', i: 'index' }[r.replicaIdentity],
      );
      const cols = theirs.columns as { name: string; typeOid: number; typeMod: number; flags: number }[];
      assert.deepEqual(
        cols.map((c) => [c.name, c.typeOid, c.typeMod, (c.flags & 1) === 1]),
        r.columns.map((c) => [c.name, c.typeOid, c.typeMod, c.isKey]),
      );
      return;
    }
    case 'insert':
      assert.equal(theirs.tag, 'insert');
      assert.deepEqual(
        theirRow(theirs.new as Row, ours.relation),
        expectedRow(ours.new, ours.relation, typeNames, null),
      );
      return;
    case 'update':
      assert.equal(theirs.tag, 'update');
      assert.deepEqual(
        theirRow(theirs.key as Row, ours.relation),
        expectedRow(ours.key, ours.relation, typeNames, null),
      );
      assert.deepEqual(
        theirRow(theirs.old as Row, ours.relation),
        expectedRow(ours.old, ours.relation, typeNames, null),
      );
      assert.deepEqual(
        theirRow(theirs.new as Row, ours.relation),
        expectedRow(ours.new, ours.relation, typeNames, ours.old),
      );
      return;
    case 'delete':
      assert.equal(theirs.tag, 'delete');
      assert.deepEqual(
        theirRow(theirs.key as Row, ours.relation),
        expectedRow(ours.key, ours.relation, typeNames, null),
      );
      assert.deepEqual(
        theirRow(theirs.old as Row, ours.relation),
        expectedRow(ours.old, ours.relation, typeNames, null),
      );
      return;
    case 'truncate':
      assert.equal(theirs.tag, 'truncate');
      assert.equal(theirs.cascade, ours.cascade);
      assert.equal(theirs.restartIdentity, ours.restartIdentity);
      assert.deepEqual(
        (theirs.relations as { name: string }[]).map((r) => r.name),
        ours.relations.map((r) => r.name),
      );
      return;
    case 'message':
      assert.deepEqual(theirs, {
        tag: 'message',
        flags: ours.flags,
        transactional: ours.transactional,
        messageLsn: lsnText(ours.lsn),
        prefix: ours.prefix,
        content: ours.content,
      });
      return;
    default:
      assert.fail(`unexpected ${ours.tag} in a non-streamed fixture`);
  }
}

const nonStreamed = loadFixtures().filter((f) => f.options.streaming === 'off');

test('there are non-streamed fixtures from both servers, text and binary', () => {
  assert.deepEqual(
    nonStreamed.map((f) => f.id).sort(),
    ['pg15-proto1', 'pg15-proto1-binary', 'pg18-proto1', 'pg18-proto1-binary'].sort(),
  );
});

for (const f of nonStreamed) {
  test(`${f.id}: our messages equal pg-logical-replication's after normalisation`, () => {
    let compared = 0;
    for (const scenario of Object.keys(f.scenarios)) {
      const ours = new PgoutputParser();
      const theirs = new PgoutputPlugin({ protoVersion: 1, publicationNames: ['p'] });
      const typeNames = new Map<number, string>();
      for (const [i, buf] of frames(f, scenario).entries()) {
        const a = ours.parse(buf);
        const b = theirs.parse(buf) as unknown as Record<string, unknown>;
        try {
          compare(a, b, typeNames);
        } catch (err) {
          (err as Error).message = `${f.id}/${scenario} frame ${i} (${a.tag}): ${(err as Error).message}`;
          throw err;
        }
        compared++;
      }
    }
    assert.ok(compared > 100);
  });
}
