import { createHash } from 'node:crypto';

/**
 * Cache and coalescing keys. Two calls are "the same lookup" when provider, operation and the
 * normalized input are equal. Normalizing only removes what cannot change the answer: object keys are
 * sorted and `undefined` members dropped. Strings are kept exactly as sent (a URL path, a request
 * body and a prompt are case-sensitive), except the fields an operation declares case-insensitive
 * (`OperationDefinition.caseInsensitive`: emails, domains), which are trimmed and lowercased, so
 * `Acme.com ` and `acme.com` share one entry. The key is a sha256 so the index stays small whatever
 * the input.
 */

/**
 * Paths of case-insensitive fields, dotted (`known.email`); an array on the way applies the rest of
 * the path to each item. `''` means the key input itself (an operation whose key is a bare email).
 */
export type CaseInsensitivePaths = readonly string[];

function fold(value: unknown): unknown {
  if (typeof value === 'string') return value.trim().toLowerCase();
  if (Array.isArray(value)) return value.map(fold);
  return value;
}

function canonical(value: unknown, paths: readonly string[][]): unknown {
  // A path that ends here folds this value (strings only; arrays of strings item by item).
  if (paths.some((p) => p.length === 0)) {
    const folded = fold(value);
    if (typeof folded === 'string') return folded;
    if (Array.isArray(folded) && folded.every((x) => typeof x !== 'object' || x === null)) return folded;
  }
  if (Array.isArray(value)) return value.map((v) => canonical(v, paths));
  if (value !== null && typeof value === 'object') {
    if (value instanceof Date) return value.toISOString();
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v === undefined) continue;
      out[k] = canonical(
        v,
        paths.filter((p) => p[0] === k).map((p) => p.slice(1)),
      );
    }
    return out;
  }
  return value;
}

/** The canonical form of a key input: keys sorted, `undefined` dropped, declared fields case-folded. */
export function normalizeForKey(value: unknown, caseInsensitive: CaseInsensitivePaths = []): unknown {
  return canonical(
    value,
    caseInsensitive.map((p) => (p === '' ? [] : p.split('.'))),
  );
}

export interface CacheKey {
  key: string;
  /** The normalized input, stored with the entry for inspection (never headers: see cacheKeyInput). */
  normalized: unknown;
}

export function cacheKeyOf(
  provider: string,
  operation: string,
  keyInput: unknown,
  caseInsensitive: CaseInsensitivePaths = [],
): CacheKey {
  const normalized = normalizeForKey(keyInput, caseInsensitive) ?? null;
  const key = createHash('sha256')
    .update(`${provider}\u0000${operation}\u0000${JSON.stringify(normalized)}`)
    .digest('hex');
  return { key, normalized };
}

/** The key of one call of an operation (an OperationDefinition): its `cacheKey` part of the input, its declared case folding. */
export function operationCacheKey(
  provider: string,
  operation: string,
  op: {
    cacheKey?: ((input: never) => unknown) | undefined;
    caseInsensitive?: CaseInsensitivePaths | undefined;
  },
  input: unknown,
): CacheKey {
  const keyInput = op.cacheKey ? op.cacheKey(input as never) : input;
  return cacheKeyOf(provider, operation, keyInput, op.caseInsensitive);
}
