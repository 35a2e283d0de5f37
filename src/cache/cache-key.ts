import { createHash } from 'node:crypto';

/**
 * Cache and coalescing keys. Two calls are "the same lookup" when provider, operation and the
 * normalized input are equal: strings trimmed and lowercased (`Acme.com ` = `acme.com`), object keys
 * sorted, `undefined` members dropped. The key is a sha256 so the index stays small whatever the input.
 */
export function normalizeForKey(value: unknown): unknown {
  if (typeof value === 'string') return value.trim().toLowerCase();
  if (Array.isArray(value)) return value.map(normalizeForKey);
  if (value !== null && typeof value === 'object') {
    if (value instanceof Date) return value.toISOString();
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = normalizeForKey(v);
    }
    return out;
  }
  return value;
}

export interface CacheKey {
  key: string;
  /** The normalized input, stored with the entry for inspection. */
  normalized: unknown;
}

export function cacheKeyOf(provider: string, operation: string, keyInput: unknown): CacheKey {
  const normalized = normalizeForKey(keyInput) ?? null;
  const key = createHash('sha256')
    .update(`${provider}\u0000${operation}\u0000${JSON.stringify(normalized)}`)
    .digest('hex');
  return { key, normalized };
}
