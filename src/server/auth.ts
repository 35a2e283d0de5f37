import type { MiddlewareHandler } from 'hono';
import { type ApiKey, allows, type Scope, verifyApiKey } from '../api-keys/api-keys.ts';
import type { Db } from '../db/db.ts';
import { ApiProblem } from './problem.ts';
import type { ServerEnv } from './server-env.ts';

/** Verified keys are remembered this long, so a revocation takes effect within it. */
const CACHE_MS = 5_000;
/** last_used_at is written at most this often per key. */
const TOUCH_MS = 60_000;

/** The key a request presents: `Authorization: Bearer sk_…` or `X-API-Key: sk_…` (the seed's header). */
export function presentedKey(header: (name: string) => string | undefined): string | undefined {
  const auth = header('authorization');
  if (auth) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (m) return m[1];
  }
  return header('x-api-key')?.trim() || undefined;
}

/** Which scope a request needs: reads `read`, everything else `write`; `admin` routes say so. */
export function neededScope(method: string, path: string): Scope {
  if (path.startsWith('/v1/dlq/') && method !== 'GET') return 'admin';
  return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
}

/**
 * API-key middleware for every route but `/health` and the inbound hooks (which carry their sender's
 * signature or secret token instead). Verified keys are cached for a few seconds (5 s): the hot read
 * path costs no query and no hashing.
 */
export function requireApiKey(db: Db): MiddlewareHandler<ServerEnv> {
  const cache = new Map<string, { key: ApiKey; at: number }>();
  const touched = new Map<number, number>();
  return async (c, next) => {
    const presented = presentedKey((n) => c.req.header(n));
    if (!presented)
      throw new ApiProblem(
        401,
        'Unauthorized',
        'send an API key as "Authorization: Bearer sk_…" or "X-API-Key: sk_…" (create one with: sluice keys create --name NAME)',
        {
          slug: 'api-key-missing',
          headers: { 'www-authenticate': 'Bearer' },
        },
      );
    const now = Date.now();
    // keyed by the key as presented: a cached read costs no hashing (only verified keys are kept)
    let entry = cache.get(presented);
    if (!entry || now - entry.at > CACHE_MS) {
      const key = await verifyApiKey(db, presented);
      if (!key) {
        cache.delete(presented);
        throw new ApiProblem(401, 'Unauthorized', 'this API key is unknown or revoked (sluice keys list)', {
          slug: 'api-key-invalid',
          headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
        });
      }
      entry = { key, at: now };
      cache.set(presented, entry);
      if (cache.size > 1000) cache.delete(cache.keys().next().value!);
    }
    const needed = neededScope(c.req.method, c.req.path);
    if (!allows(entry.key.scopes, needed))
      throw new ApiProblem(
        403,
        'Forbidden',
        `this key has scopes ${entry.key.scopes.join(', ')}; this request needs "${needed}"`,
        {
          slug: 'scope',
        },
      );
    if (now - (touched.get(entry.key.id) ?? 0) > TOUCH_MS) {
      touched.set(entry.key.id, now);
      // bookkeeping only: a failure here must not fail the request
      db.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [entry.key.id]).catch(() => {});
    }
    c.set('apiKey', entry.key);
    await next();
  };
}
