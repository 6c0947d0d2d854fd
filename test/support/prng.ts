/** mulberry32: a small seeded PRNG, so randomized tests are reproducible from their seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The seed of this test process's varying randomness (kill timings, pauses): SLOTSTREAM_TEST_SEED when set,
 * to replay a run, else a new one each run, so that runs explore different timings. It is printed when the
 * process ends with a failure, with the variable that replays it.
 */
export const RUN_SEED: number = (() => {
  const given = process.env.SLOTSTREAM_TEST_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
      throw new Error(`SLOTSTREAM_TEST_SEED must be a whole number below 2^32, got ${given}`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 32);
})();

process.once('exit', (code) => {
  if (code !== 0 || process.exitCode)
    console.error(`randomness seed: replay with SLOTSTREAM_TEST_SEED=${RUN_SEED}`);
});

/** A generator from RUN_SEED, distinct per `label` so that two users in one file draw different numbers. */
export function seeded(label: string): () => number {
  let hash = 2_166_136_261;
  for (const char of label) hash = Math.imul(hash ^ char.charCodeAt(0), 16_777_619);
  return prng((RUN_SEED ^ hash) >>> 0);
}
