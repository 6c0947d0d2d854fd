/**
 * The library/application boundary, checked from the sources: the library (src/) imports nothing of the
 * reference application, the tests or the scripts, and no package a service would not have installed with
 * it; the reference application (app/, slotstream.config.ts) reaches the library only through the package's
 * public entries, as any other service does.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const root = path.resolve(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, unknown>;
  dependencies: Record<string, string>;
};

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|js)$/.test(f))
    .map((f) => path.join(dir, f));
}

/** Every module specifier a file imports or re-exports, statically or dynamically. */
function specifiers(file: string): string[] {
  // Comments go first: their examples import the package by name, which is not the file importing it.
  const text = readFileSync(path.join(root, file), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const found = [
    ...text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s*'([^']+)'/gm),
    ...text.matchAll(/^\s*import\s*'([^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
  ];
  return found.map((m) => m[1] as string);
}

const packageName = (spec: string) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');
const publicEntries = new Set(
  Object.keys(pkg.exports).map((e) => (e === '.' ? pkg.name : `${pkg.name}/${e.slice(2)}`)),
);

test('the library imports only itself, node: builtins and its declared dependencies', () => {
  const wrong: string[] = [];
  for (const file of sources('src')) {
    for (const spec of specifiers(file)) {
      if (spec.startsWith('.')) {
        const target = path.relative(root, path.resolve(root, path.dirname(file), spec));
        if (!target.startsWith(`src${path.sep}`)) wrong.push(`${file} → ${spec} (outside the library)`);
      } else if (!spec.startsWith('node:') && !(packageName(spec) in pkg.dependencies)) {
        wrong.push(`${file} → ${spec} (not a dependency of the package)`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

test('the reference application reaches the library only through the public entries', () => {
  const wrong: string[] = [];
  for (const file of [...sources('app'), 'slotstream.config.ts']) {
    for (const spec of specifiers(file)) {
      if (spec.startsWith('.')) {
        const target = path.relative(root, path.resolve(root, path.dirname(file), spec));
        if (!target.startsWith(`app${path.sep}`)) wrong.push(`${file} → ${spec}`);
      } else if (packageName(spec) === pkg.name && !publicEntries.has(spec)) {
        wrong.push(`${file} → ${spec} (not in the exports map)`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

test('the checks above see imports at all (a parser that finds none would pass anything)', () => {
  assert.ok(specifiers('src/index.ts').includes('./reader/index.ts'));
  assert.ok(specifiers('slotstream.config.ts').includes('slotstream/cli'));
  assert.ok(specifiers('src/cli/project-config.ts').includes('node:fs'));
});
