import { z } from 'zod';
import { defineOperation, defineProvider } from '../providers/define-provider.ts';
import { assertPublicUrl } from './private-address.ts';

/**
 * The provider behind the `http` step: one generic request, so a Clay-style HTTP column goes through
 * the gateway (cache, limits, ledger) like any other call. Free (the user pays the API directly, if
 * at all), no key; the target URL is absolute.
 */
const request = defineOperation({
  description: 'a generic HTTP request (JSON or text response)',
  input: z.object({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
    url: z.string().url(),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.unknown().optional(),
    allow_private: z.boolean().optional(),
    timeout_ms: z.number().int().positive().optional(),
  }),
  output: z.object({ status: z.number(), body: z.unknown() }),
  priceUsd: 0,
  cacheTtlMs: 24 * 3600_000,
  notFoundTtlMs: 3600_000,
  maxAttempts: 3,
  async run(ctx, input) {
    if (!input.allow_private) await assertPublicUrl(input.url);
    const res = await ctx.request({
      method: input.method,
      path: input.url,
      ...(input.headers ? { headers: input.headers } : {}),
      ...(input.body !== undefined ? { body: input.body } : {}),
      ...(input.timeout_ms ? { timeoutMs: input.timeout_ms } : {}),
      responseType: 'text',
    });
    return { found: true, output: { status: res.status, body: res.body }, costUsd: 0 };
  },
});

export const httpProvider = defineProvider({
  id: 'http',
  name: 'HTTP (generic)',
  baseUrl: '',
  limits: [{ limit: 20, windowMs: 1000, label: '20/s' }],
  concurrency: 8,
  free: true,
  operations: { request },
});
