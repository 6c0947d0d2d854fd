/**
 * Microbenchmark of the notifier's wake path (not a test): N waiters on distinct keys, then 1,000
 * notifies, each of a key one waiter waits on, timed one by one. The wake-up guarantee (docs/design.md) says a wake costs in proportion
 * to the waiters it wakes, so the per-notify time must stay flat from 1,000 to 100,000 waiters. A naive
 * notifier that scans every waiter runs beside it as the yardstick.
 *
 *   node --expose-gc --import tsx scripts/bench/notifier.ts [--notifies N] [--waiters 1000,10000,100000]
 *
 * The time is that of the `notify` call itself, which the reader pays inside its apply loop: index
 * lookups, unregistering the waiter, clearing its timer and resolving its promise (callbacks run later).
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Notifier } from '../../src/notifier/index.ts';

const { values } = parseArgs({
  options: {
    notifies: { type: 'string', default: '1000' },
    waiters: { type: 'string', default: '1000,10000,100000' },
  },
});
const notifies = Number(values.notifies);
const sizes = values.waiters.split(',').map(Number);

/** The yardstick: every notify looks at every waiter. */
class NaiveNotifier {
  readonly #waiters: { key: string; resolve: () => void; done: boolean }[] = [];
  wait(key: string): Promise<void> {
    return new Promise((resolve) => this.#waiters.push({ key, resolve, done: false }));
  }
  notify(key: string): void {
    for (const w of this.#waiters) {
      if (!w.done && w.key === key) {
        w.done = true;
        w.resolve();
      }
    }
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const us = (ms: number) => `${(ms * 1000).toFixed(2)} µs`.padStart(12);
  return `p50 ${us(percentile(sorted, 50))}  p99 ${us(percentile(sorted, 99))}  max ${us(sorted.at(-1) ?? 0)}`;
}

/** Keys notified: spread over all waiters so no cache locality favours small N. */
const targets = (n: number) =>
  Array.from({ length: notifies }, (_, i) => `!room${Math.floor((i * n) / notifies)}`);

async function ours(n: number): Promise<number[]> {
  const notifier = new Notifier({ maxKeys: 100_000 });
  let woken = 0;
  for (let i = 0; i < n; i++) {
    // Real long-poll shape: a timer per waiter, cleared on wake.
    notifier.wait({ keys: [`!room${i}`], after: 0n, timeoutMs: 600_000 }).then((r) => {
      if (r.kind === 'updated') woken++;
    });
  }
  (globalThis as { gc?: () => void }).gc?.(); // with --expose-gc: no collection left over from setup
  const samples: number[] = [];
  let position = 0n;
  for (const key of targets(n)) {
    const t0 = performance.now();
    notifier.notify([key], ++position);
    samples.push(performance.now() - t0);
  }
  await new Promise((resolve) => setImmediate(resolve));
  if (woken !== Math.min(n, notifies))
    throw new Error(`expected ${Math.min(n, notifies)} wakes, got ${woken}`);
  notifier.resync(position + 1n); // frees the rest and their timers
  return samples;
}

async function naive(n: number): Promise<number[]> {
  const notifier = new NaiveNotifier();
  for (let i = 0; i < n; i++) notifier.wait(`!room${i}`);
  (globalThis as { gc?: () => void }).gc?.();
  const samples: number[] = [];
  for (const key of targets(n)) {
    const t0 = performance.now();
    notifier.notify(key);
    samples.push(performance.now() - t0);
  }
  return samples;
}

// Warm-up, so the first size does not pay for JIT compilation.
await ours(10_000);
await naive(10_000);

console.log(`${notifies} notifies, one waiter woken by each; time per notify call`);
for (const n of sizes) {
  console.log(`${String(n).padStart(7)} waiters  notifier  ${summary(await ours(n))}`);
  console.log(`${String(n).padStart(7)} waiters  naive scan ${summary(await naive(n))}`);
}
