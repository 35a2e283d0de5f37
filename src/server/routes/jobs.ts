import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { upsertRecords } from '../../import/upsert-records.ts';
import { getJob, startJob } from '../../jobs/job-store.ts';
import { OutboundNetworkError } from '../../net/outbound-error.ts';
import { usStateCode } from '../../normalize/us-state.ts';
import { callbackUrlProblem, checkCallbackUrl } from '../../webhooks/send-webhook.ts';
import { ensureEndpoint } from '../../webhooks/webhook-store.ts';
import { ApiProblem, notFound, problemResponses } from '../problem.ts';
import type { ServerEnv, ServerServices } from '../server-env.ts';

const Accepted = z
  .object({
    job_id: z.string().uuid(),
    status: z.literal('processing'),
    batch_id: z.number(),
    total: z.number().openapi({ description: 'runs queued' }),
    webhook_secret: z.string().optional().openapi({
      description: 'whsec_ signing secret of a callback URL seen for the first time; shown once',
    }),
  })
  .openapi('JobAccepted');

const JobSchema = z
  .object({
    id: z.string(),
    kind: z.string(),
    state: z.enum(['processing', 'completed', 'failed']),
    pipeline: z.string(),
    batchId: z.number().nullable(),
    rule: z.string().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
    progress: z.record(z.string(), z.number()),
    cost: z.object({ usd: z.number(), calls: z.number(), cacheHits: z.number() }),
    errors: z.array(z.record(z.string(), z.unknown())),
    result: z.unknown(),
  })
  .openapi('Job');

const StartJob = z
  .object({
    pipeline: z.string().min(1).openapi({ example: 'golf-courses' }),
    where: z.string().max(2000).optional().openapi({ example: 'state=VA and website is not empty' }),
    ids: z.array(z.number().int().positive()).max(100_000).optional(),
    limit: z.number().int().positive().optional(),
    records: z
      .array(z.record(z.string(), z.unknown()))
      .max(1000)
      .optional()
      .openapi({ description: 'accounts given inline: upserted like POST /v1/accounts, then run' }),
    budget_usd: z.number().positive().optional(),
    callback_url: z.string().max(2000).optional(),
  })
  .openapi('StartJob');

const EnrichCourse = z
  .object({
    course_name: z.string().min(1).max(500).openapi({ example: 'Richmond Country Club' }),
    state: z.string().min(1).max(100).openapi({ example: 'Virginia' }),
    callback_url: z
      .string()
      .max(2000)
      .optional()
      .openapi({ example: 'https://example.supabase.co/functions/v1/receive-enrichment' }),
    course_id: z.union([z.string(), z.number()]).optional(),
    city: z
      .string()
      .max(200)
      .optional()
      .openapi({ description: 'extension to the seed: helps find the website' }),
    website: z
      .string()
      .max(2000)
      .optional()
      .openapi({ description: 'extension to the seed: skips the website search' }),
  })
  .openapi('EnrichCourse');

/** The callback URL's endpoint (created with a secret on first use), after the SSRF guard. */
async function callbackEndpoint(s: ServerServices, url: string | undefined) {
  if (!url) return undefined;
  const bad = callbackUrlProblem(url);
  if (bad)
    throw new ApiProblem(422, 'Unprocessable Content', `callback_url: ${bad}`, { slug: 'callback-url' });
  try {
    await checkCallbackUrl(url, s.callbacks);
  } catch (err) {
    // refused, or no such domain: the URL is wrong. The resolver itself failing is not an answer: 503.
    if (err instanceof OutboundNetworkError && err.reason !== 'unknown_host')
      throw new ApiProblem(
        503,
        'Service Unavailable',
        `callback_url: could not be checked now (${err.message}); try again`,
        { headers: { 'retry-after': '5' } },
      );
    throw new ApiProblem(422, 'Unprocessable Content', `callback_url: ${(err as Error).message}`, {
      slug: 'callback-url',
    });
  }
  return ensureEndpoint(s.db, url, 'callback_url');
}

async function checkPipeline(s: ServerServices, pipeline: string) {
  try {
    await s.engine.resolvePipeline(pipeline);
  } catch (err) {
    throw new ApiProblem(422, 'Unprocessable Content', `pipeline: ${(err as Error).message}`, {
      slug: 'pipeline',
    });
  }
}

export function registerJobRoutes(app: OpenAPIHono<ServerEnv>): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/jobs',
      tags: ['jobs'],
      summary: 'run a pipeline over a selection or over records given inline; answers at once',
      request: { body: { required: true, content: { 'application/json': { schema: StartJob } } } },
      responses: {
        202: {
          description: 'queued; poll Location or wait for the callback',
          content: { 'application/json': { schema: Accepted } },
        },
        ...problemResponses(400, 409, 422),
      },
    }),
    async (c) => {
      const s = c.get('services');
      const body = c.req.valid('json');
      await checkPipeline(s, body.pipeline);
      const endpoint = await callbackEndpoint(s, body.callback_url);
      const ids = [...(body.ids ?? [])];
      if (body.records) {
        const written = await upsertRecords(s.db, 'accounts', body.records, { source: 'api' });
        const bad = written.filter((w) => 'error' in w);
        if (bad.length > 0)
          throw new ApiProblem(
            422,
            'Unprocessable Content',
            `${bad.length} of ${written.length} records were rejected (the others were saved)`,
            {
              slug: 'rejected',
              extra: {
                errors: bad.map((b) => ({
                  path: `records[${b.index}]`,
                  message: (b as { error: string }).error,
                })),
              },
            },
          );
        for (const w of written) if ('id' in w) ids.push(w.id);
      }
      if (ids.length === 0 && !body.where && body.limit === undefined)
        throw new ApiProblem(
          422,
          'Unprocessable Content',
          'say which accounts to run: ids, records, where or limit',
          { slug: 'selection' },
        );
      const job = await startJob(s.db, s.engine.queue, {
        kind: 'pipeline',
        pipeline: body.pipeline,
        selection: {
          ...(ids.length ? { ids } : {}),
          ...(body.where ? { where: body.where } : {}),
          ...(body.limit ? { limit: body.limit } : {}),
        },
        request: body,
        apiKeyId: c.get('apiKey').id,
        ...(body.budget_usd !== undefined ? { budgetUsd: body.budget_usd } : {}),
        ...(endpoint ? { endpointId: endpoint.endpoint.id } : {}),
      });
      c.header('location', `/v1/jobs/${job.id}`);
      return c.json(
        {
          job_id: job.id,
          status: 'processing' as const,
          batch_id: job.batchId,
          total: job.total,
          ...(endpoint?.secret ? { webhook_secret: endpoint.secret } : {}),
        },
        202,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs/{id}',
      tags: ['jobs'],
      summary: 'state, progress, cost, errors and, once finished, the result',
      request: { params: z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' } }) }) },
      responses: {
        200: { description: 'the job', content: { 'application/json': { schema: JobSchema } } },
        ...problemResponses(404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const job = await getJob(c.get('services').db, id);
      if (!job) throw notFound(`job ${id}`);
      return c.json(
        { ...job, createdAt: job.createdAt.toISOString(), finishedAt: job.finishedAt?.toISOString() ?? null },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/enrich-course',
      tags: ['jobs'],
      summary:
        "the seed's call: enrich one golf course; the callback gets course, contacts, total_cost, total_time",
      request: { body: { required: true, content: { 'application/json': { schema: EnrichCourse } } } },
      responses: {
        202: { description: 'queued', content: { 'application/json': { schema: Accepted } } },
        ...problemResponses(400, 409, 422),
      },
    }),
    async (c) => {
      const s = c.get('services');
      const body = c.req.valid('json');
      const pipeline = 'golf-courses';
      const endpoint = await callbackEndpoint(s, body.callback_url);
      const [account] = await upsertRecords(
        s.db,
        'accounts',
        [
          {
            name: body.course_name,
            state: usStateCode(body.state),
            ...(body.city ? { city: body.city } : {}),
            ...(body.website ? { website: body.website } : {}),
            ...(body.course_id !== undefined ? { course_id: String(body.course_id) } : {}),
          },
        ],
        { source: 'api' },
      );
      if (!account || 'error' in account)
        throw new ApiProblem(422, 'Unprocessable Content', account?.error ?? 'course rejected', {
          slug: 'rejected',
        });
      const job = await startJob(s.db, s.engine.queue, {
        kind: 'enrich-course',
        pipeline,
        selection: { ids: [account.id] },
        request: body,
        apiKeyId: c.get('apiKey').id,
        ...(endpoint ? { endpointId: endpoint.endpoint.id } : {}),
      });
      c.header('location', `/v1/jobs/${job.id}`);
      return c.json(
        {
          job_id: job.id,
          status: 'processing' as const,
          batch_id: job.batchId,
          total: job.total,
          ...(endpoint?.secret ? { webhook_secret: endpoint.secret } : {}),
        },
        202,
      );
    },
  );
}
