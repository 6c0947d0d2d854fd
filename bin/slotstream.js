#!/usr/bin/env node
// The package's command. An installed package runs its compiled JavaScript (dist/); a checkout of the
// repository, which has the TypeScript sources and tsx, runs them directly, so there is no build to forget.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  // The checkout's tsconfig maps `slotstream` to src/, from whichever directory the command runs in.
  register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
