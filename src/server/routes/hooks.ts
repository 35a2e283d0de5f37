import type { OpenAPIHono } from '@hono/zod-openapi';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { storeHookEvent } from '../../webhooks/inbound/hook-events.ts';
import { recordingRequest, storeHookRejection } from '../../webhooks/inbound/hook-rejections.ts';
import type { InboundRequest } from '../../webhooks/inbound/inbound-registry.ts';
import { ApiProblem, ProblemSchema } from '../problem.ts';
import type { ServerEnv } from '../server-env.ts';

/** Inbound events are small; a larger body is refused with 413 rather than buffered. */
const MAX_HOOK_BYTES = 1024 * 1024;

/**
 * `POST /v1/hooks/{source}[/{token}]`: no API key (senders cannot send one); the source's signature or
 * URL token instead, checked on the raw bytes. The event is stored (deduplicated on the source's event
 * id) and answered 202 at once; a job processes it (hook-events.ts). A refused request is answered 401
 * and kept apart in `hook_rejections` (hook-rejections.ts: `sluice webhooks rejected|reverify`).
 */
export function registerHookRoutes(app: OpenAPIHono<ServerEnv>, onStored: () => void): void {
  const handler = async (c: Context<ServerEnv>) => {
    const s = c.get('services');
    const id = c.req.param('source') ?? '';
    const token = c.req.param('token');
    const source = s.hooks.get(id);
    const secret = source ? s.env[source.secretEnv] : undefined;
    // unknown and unconfigured sources look the same from outside
    if (!source || !secret)
      throw new ApiProblem(404, 'Not Found', `no inbound webhook source "${id}" is configured`);
    const raw = Buffer.from(await c.req.arrayBuffer());
    if (raw.length > MAX_HOOK_BYTES)
      throw new ApiProblem(413, 'Content Too Large', `inbound events are limited to ${MAX_HOOK_BYTES} bytes`);
    const publicBase = s.env.SLUICE_PUBLIC_URL?.replace(/\/$/, '');
    const url = new URL(c.req.url);
    const req: InboundRequest = {
      method: c.req.method,
      url: publicBase ? `${publicBase}${url.pathname}${url.search}` : c.req.url,
      raw,
      header: (n) => c.req.header(n),
      token,
    };
    const recording = recordingRequest(req);
    const refused = source.verify(recording.request, secret);
    if (refused) {
      // kept (bounded, never processed) so a wrong secret is visible and its events recoverable
      await storeHookRejection(s.db, id, refused, recording);
      throw new ApiProblem(401, 'Unauthorized', `${id} webhook: ${refused}`, { slug: 'hook-signature' });
    }
    let body: unknown;
    try {
      body = source.parse ? await source.parse(req) : JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ApiProblem(
        400,
        'Bad Request',
        `${id} webhook: the body is not ${source.parse ? 'readable' : 'JSON'}`,
        {
          slug: 'hook-body',
        },
      );
    }
    const eventId = source.eventId(req, body);
    const stored = await storeHookEvent(
      s.db,
      id,
      eventId,
      source.parse ? JSON.stringify(body) : raw.toString('utf8'),
    );
    if (!stored.duplicate) onStored();
    return c.json({ received: true, duplicate: stored.duplicate, event_id: eventId }, 202);
  };
  app.post('/v1/hooks/:source', handler);
  app.post('/v1/hooks/:source/:token', handler);
  for (const path of ['/v1/hooks/{source}', '/v1/hooks/{source}/{token}'])
    app.openAPIRegistry.registerPath({
      method: 'post',
      path,
      tags: ['hooks'],
      summary:
        'inbound webhook (rb2b, clickup, hubspot, generic): signature or URL token instead of an API key',
      request: {
        params: z.object({ source: z.string(), ...(path.endsWith('{token}') ? { token: z.string() } : {}) }),
        body: { content: { 'application/json': { schema: z.unknown() } } },
      },
      responses: {
        202: {
          description: 'stored (or a duplicate, acknowledged)',
          content: {
            'application/json': {
              schema: z.object({ received: z.boolean(), duplicate: z.boolean(), event_id: z.string() }),
            },
          },
        },
        401: {
          description: 'bad signature or token',
          content: { 'application/problem+json': { schema: ProblemSchema } },
        },
        404: {
          description: 'source unknown or not configured',
          content: { 'application/problem+json': { schema: ProblemSchema } },
        },
      },
    });
}
