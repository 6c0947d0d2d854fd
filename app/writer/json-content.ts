/**
 * The JSON objects clients store (event content, account data, to-device content). The body limit (64 KiB)
 * already bounds their size; what is checked here is what PostgreSQL's jsonb would refuse later, as a 500,
 * or what JSON.parse would silently change: a NUL in a string or key, a lone UTF-16 surrogate (`"\ud800"`
 * parses, but is not Unicode), a number too large for a double (`1e400` parses as Infinity, which would be
 * stored as null), and nesting deep enough to exhaust the server's parser stack.
 */
import { badJson, requireObject } from '../http/index.ts';

/** Deeper than any real content; PostgreSQL parses jsonb recursively and has a stack limit. */
export const MAX_CONTENT_DEPTH = 64;

/** NUL, or a surrogate half not paired with its other half. */
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** `value` as a JSON object PostgreSQL stores as it is, else M_BAD_JSON naming `field` and the path inside it. */
export function requireContent(value: unknown, field: string): Record<string, unknown> {
  const object = requireObject(value, field);
  checkValue(object, field, 1);
  return object;
}

function checkValue(value: unknown, path: string, depth: number): void {
  if (typeof value === 'string') {
    if (UNSTORABLE.test(value))
      throw badJson(`${path} contains NUL (\\u0000) or an unpaired surrogate, which cannot be stored`);
    return;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw badJson(`${path} is a number too large to represent`);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (depth > MAX_CONTENT_DEPTH)
    throw badJson(`${path} is nested deeper than ${MAX_CONTENT_DEPTH} levels of objects and arrays`);
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) checkValue(item, `${path}[${i}]`, depth + 1);
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (UNSTORABLE.test(key))
      throw badJson(`${path} has a key with NUL (\\u0000) or an unpaired surrogate, which cannot be stored`);
    checkValue(item, `${path}.${shortKey(key)}`, depth + 1);
  }
}

/** A key as it appears in a message: long keys cut, so an error stays readable. */
function shortKey(key: string): string {
  return key.length > 40 ? `${key.slice(0, 40)}…` : key;
}
