import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Db } from '../db/db.ts';
import { ApiProblem, problemResponse, toProblem } from './problem.ts';
import type { ServerEnv } from './server-env.ts';

/** How long a first response is replayed (Stripe and the IETF draft: at least 24 h). */
const REPLAY_HOURS = 24;
/** An in-flight claim older than this belongs to a process that died: the next request takes it over. */
const ABANDONED_SECONDS = 300;

/**
 * `Idempotency-Key` on POST (IETF httpapi-idempotency-key-header, Stripe's semantics): the first
 * response, 5xx included, is stored and replayed for 24 h with `Idempotent-Replayed: true`; the same key
 * while the first request is still running answers 409; the same key with another body (or path)
 * answers 422. Keys are per API key. JSON bodies are compared by hash; uploads (not read up front,
 * they are streamed) by content type and length.
 */
export function idempotency(db: Db): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    const key = c.req.header('idempotency-key');
    if (c.req.method !== 'POST' || key === undefined) return next();
    if (key.length === 0 || key.length > 255)
      throw new ApiProblem(400, 'Bad Request', 'Idempotency-Key must be 1 to 255 characters', {
        slug: 'idempotency-key',
      });
    const apiKeyId = c.get('apiKey').id;
    const type = c.req.header('content-type') ?? '';
    const fingerprint = type.includes('json')
      ? await c.req.text()
      : `${type}\u0000${c.req.header('content-length') ?? ''}`;
    const hash = createHash('sha256').update(c.req.path).update('\u0000').update(fingerprint).digest('hex');

    const claimed = await db.query(
      `INSERT INTO idempotency_keys (api_key_id, key, path, request_hash) VALUES ($1, $2, $3, $4)
       ON CONFLICT (api_key_id, key) DO UPDATE
         SET path = EXCLUDED.path, request_hash = EXCLUDED.request_hash, status = NULL,
             response_headers = NULL, response_body = NULL, created_at = now()
       WHERE idempotency_keys.created_at < now() - make_interval(hours => $5)
          OR (idempotency_keys.status IS NULL AND idempotency_keys.request_hash = EXCLUDED.request_hash
              AND idempotency_keys.created_at < now() - make_interval(secs => $6))
       RETURNING 1`,
      [apiKeyId, key, c.req.path, hash, REPLAY_HOURS, ABANDONED_SECONDS],
    );
    if (claimed.rows.length === 0) {
      const r = await db.query<{
        request_hash: string;
        status: number | null;
        response_headers: Record<string, string> | null;
        response_body: string | null;
      }>(
        'SELECT request_hash, status, response_headers, response_body FROM idempotency_keys WHERE api_key_id = $1 AND key = $2',
        [apiKeyId, key],
      );
      const prior = r.rows[0];
      if (!prior) throw new ApiProblem(409, 'Conflict', 'retry: this Idempotency-Key was just released');
      if (prior.request_hash !== hash)
        throw new ApiProblem(
          422,
          'Unprocessable Content',
          'this Idempotency-Key was used with another request body or path; use a new key for a new request',
          { slug: 'idempotency-key-reused' },
        );
      if (prior.status === null)
        throw new ApiProblem(
          409,
          'Conflict',
          'the first request with this Idempotency-Key is still in flight; retry later',
          {
            slug: 'idempotency-in-flight',
            headers: { 'retry-after': '1' },
          },
        );
      return new Response(prior.response_body, {
        status: prior.status,
        headers: { ...(prior.response_headers ?? {}), 'idempotent-replayed': 'true' },
      });
    }

    let res: Response;
    try {
      await next();
      res = c.res;
    } catch (err) {
      res = problemResponse(c, toProblem(err));
      c.res = res;
    }
    const body = await res.clone().text();
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'location']) {
      const v = res.headers.get(name);
      if (v) headers[name] = v;
    }
    await db.query(
      `UPDATE idempotency_keys SET status = $3, response_headers = $4::jsonb, response_body = $5
       WHERE api_key_id = $1 AND key = $2`,
      [apiKeyId, key, res.status, JSON.stringify(headers), body],
    );
  };
}
