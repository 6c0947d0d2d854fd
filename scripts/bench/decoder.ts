/**
 * Microbenchmark of the pgoutput decoder (not a test): decodes captured Insert frames N times and prints
 * rows per second.
 *
 *   node --import tsx scripts/bench/decoder.ts [N]
 */
import { PgoutputParser } from '../../src/replication/pgoutput/index.ts';
import { frames, loadFixture } from '../../test/unit/fixtures/pgoutput/load.ts';

const n = Number(process.argv[2] ?? 1_000_000);
const fixture = loadFixture('pg18-proto1');

interface Case {
  label: string;
  scenario: string;
  /** Index of the Insert frame among the scenario's frames. */
  pick: (all: Buffer[]) => number;
}

const cases: Case[] = [
  { label: 'ident (int4, text, int4)', scenario: 'dml', pick: (all) => all.findIndex((b) => b[0] === 0x49) },
  {
    label: 'vals row 1 (40 columns: every type, arrays, json, timestamps)',
    scenario: 'values',
    pick: (all) => all.findIndex((b) => b[0] === 0x49),
  },
  {
    label: 'vals row 2 (40 columns, all NULL)',
    scenario: 'values',
    pick: (all) => all.findIndex((b, i) => b[0] === 0x49 && i > all.findIndex((x) => x[0] === 0x49)),
  },
];

for (const c of cases) {
  const all = frames(fixture, c.scenario);
  const index = c.pick(all);
  const parser = new PgoutputParser();
  for (let i = 0; i < index; i++) parser.parse(all[i] as Buffer); // Relation messages
  const frame = all[index] as Buffer;
  const iterations = c.label.includes('40 columns') && !c.label.includes('NULL') ? Math.ceil(n / 10) : n;
  let sink = 0;
  for (let i = 0; i < Math.min(iterations, 50_000); i++) sink += parser.parse(frame).tag.length; // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink += parser.parse(frame).tag.length;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(
    `${c.label}: ${frame.length} bytes, ${iterations} rows in ${seconds.toFixed(2)} s = ` +
      `${Math.round(iterations / seconds).toLocaleString('en-US')} rows/s`,
  );
  if (sink < 0) console.log(sink); // keeps the results alive
}
