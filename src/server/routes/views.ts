import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { cacheStats } from '../../cache/cache-maintenance.ts';
import { batchProgress } from '../../engine/batch.ts';
import { listDeadRuns, retryDeadRuns } from '../../engine/dead-letter.ts';
import { listLedger } from '../../ledger/ledger-query.ts';
import { notFound, problemResponses } from '../problem.ts';
import type { ServerEnv } from '../server-env.ts';
import { decodeCursor, encodeCursor } from './list-query.ts';

const Rows = z.array(z.record(z.string(), z.unknown()));
const Page = z.object({ data: Rows, next_cursor: z.string().nullable(), has_more: z.boolean() });
const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(100).optional(),
});

function page<T extends { id: number }>(rows: T[], limit: number) {
  const data = rows.slice(0, limit);
  const more = rows.length > limit;
  return { data, next_cursor: more ? encodeCursor(data[data.length - 1]!.id) : null, has_more: more };
}

/** Read-only views of batches, runs, the ledger, the cache and providers; the DLQ and its redrive. */
export function registerViewRoutes(app: OpenAPIHono<ServerEnv>): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/batches',
      tags: ['views'],
      summary: 'batches, newest first',
      request: { query: PageQuery },
      responses: { 200: json(Page, 'a page') },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const before = q.cursor ? decodeCursor(q.cursor) : Number.MAX_SAFE_INTEGER;
      const r = await c.get('services').db.query<{ id: number }>(
        `SELECT id, pipeline, status, stop_reason AS "stopReason", budget_usd::float8 AS "budgetUsd", selection, total,
                created_at AS "createdAt", finished_at AS "finishedAt"
           FROM batches WHERE id < $1 ORDER BY id DESC LIMIT $2`,
        [before, q.limit + 1],
      );
      return c.json(page(r.rows, q.limit), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/batches/{id}',
      tags: ['views'],
      summary: "a batch's runs by state, calls, cache hits and cost",
      request: {
        params: z.object({
          id: z.coerce
            .number()
            .int()
            .positive()
            .openapi({ param: { name: 'id', in: 'path' } }),
        }),
      },
      responses: { 200: json(z.record(z.string(), z.unknown()), 'progress'), ...problemResponses(404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const db = c.get('services').db;
      // only a missing row is a 404: a database failure stays an error (503), never "not found"
      const exists = await db.query('SELECT 1 FROM batches WHERE id = $1', [id]);
      if (exists.rows.length === 0) throw notFound(`batch ${id}`);
      return c.json({ ...(await batchProgress(db, id)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/runs',
      tags: ['views'],
      summary: 'runs, newest first, optionally of one batch and in one state',
      request: {
        query: PageQuery.extend({
          batch_id: z.coerce.number().int().positive().optional(),
          state: z.enum(['queued', 'running', 'enriched', 'partial', 'failed']).optional(),
        }),
      },
      responses: { 200: json(Page, 'a page') },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const before = q.cursor ? decodeCursor(q.cursor) : Number.MAX_SAFE_INTEGER;
      const r = await c.get('services').db.query<{ id: number }>(
        `SELECT id, batch_id AS "batchId", pipeline, account_id AS "accountId", state, attempts, error_class AS "errorClass",
                error, calls, cache_hits AS "cacheHits", cost_usd::float8 AS "costUsd", created_at AS "createdAt",
                finished_at AS "finishedAt"
           FROM runs WHERE id < $1 AND ($3::bigint IS NULL OR batch_id = $3) AND ($4::text IS NULL OR state = $4)
          ORDER BY id DESC LIMIT $2`,
        [before, q.limit + 1, q.batch_id ?? null, q.state ?? null],
      );
      return c.json(page(r.rows, q.limit), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/ledger',
      tags: ['views'],
      summary: 'call attempts, newest first',
      request: {
        query: z.object({
          run_id: z.coerce.number().int().positive().optional(),
          batch_id: z.coerce.number().int().positive().optional(),
          provider: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
      },
      responses: { 200: json(z.object({ data: Rows }), 'ledger rows') },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await listLedger(c.get('services').db, {
        limit: q.limit,
        ...(q.run_id ? { runId: q.run_id } : {}),
        ...(q.batch_id ? { batchId: q.batch_id } : {}),
        ...(q.provider ? { provider: q.provider } : {}),
      });
      return c.json({ data: rows as unknown as Record<string, unknown>[] }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/cache/stats',
      tags: ['views'],
      summary: 'cache entries, hits, misses and savings by provider and operation',
      responses: { 200: json(z.object({ data: Rows }), 'stats') },
    }),
    async (c) =>
      c.json({ data: (await cacheStats(c.get('services').db)) as unknown as Record<string, unknown>[] }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/providers/stats',
      tags: ['views'],
      summary: 'calls, hits, errors, cost and latency by provider (from the ledger)',
      responses: { 200: json(z.object({ data: Rows }), 'stats') },
    }),
    async (c) => {
      const r = await c.get('services').db.query(
        `SELECT provider, count(*) FILTER (WHERE cache IN ('miss', 'refresh'))::int AS requests,
                count(*) FILTER (WHERE cache IN ('hit', 'coalesced'))::int AS "cacheHits",
                count(*) FILTER (WHERE status = 'found')::int AS found, count(*) FILTER (WHERE status = 'not_found')::int AS "notFound",
                count(*) FILTER (WHERE status = 'error')::int AS errors, count(*) FILTER (WHERE status = 'refused')::int AS refused,
                coalesce(sum(cost_usd), 0)::float8 AS "costUsd", coalesce(sum(saved_usd), 0)::float8 AS "savedUsd",
                coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE cache IN ('miss', 'refresh')), 0)::float8 AS "p50LatencyMs"
           FROM ledger GROUP BY provider ORDER BY provider`,
      );
      return c.json({ data: r.rows }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/dlq',
      tags: ['dlq'],
      summary: 'failed runs (the dead-letter queue) with their reason',
      request: { query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }) },
      responses: { 200: json(z.object({ data: Rows }), 'dead runs') },
    }),
    async (c) =>
      c.json(
        {
          data: (await listDeadRuns(c.get('services').db, {
            limit: c.req.valid('query').limit,
          })) as unknown as Record<string, unknown>[],
        },
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/dlq/redrive',
      tags: ['dlq'],
      summary: 'send failed runs back to the queue (memoized steps kept); needs the admin scope',
      request: {
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z.union([
                z.object({ run_ids: z.array(z.number().int().positive()).min(1) }),
                z.object({ all: z.literal(true) }),
              ]),
            },
          },
        },
      },
      responses: {
        200: json(z.object({ requeued: z.array(z.number()) }), 'runs requeued'),
        ...problemResponses(400, 403),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const s = c.get('services');
      const requeued = await retryDeadRuns(s.db, s.engine.queue, 'all' in body ? 'all' : body.run_ids);
      return c.json({ requeued }, 200);
    },
  );
}
