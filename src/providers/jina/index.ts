import { z } from 'zod';
import { CriticalError, NotFoundError, QuotaExhaustedError, ThrottledError } from '../../errors.ts';
import { defineOperation, defineProvider, type HttpResponse } from '../define-provider.ts';
import { defaultMapError, parseBody } from '../http.ts';
import { numberSetting } from '../settings.ts';

/**
 * Jina AI Reader (docs/provider-apis.md §8): `GET https://r.jina.ai/<url>` with
 * `Accept: application/json`; the key (Bearer) is optional and raises the limit from 20 to 200 RPM.
 *
 * Price: billed per output token from a prepaid balance. Default $0.05 per million tokens is an
 * assumption (the exact price is unverified); set `SLUICE_JINA_USD_PER_MILLION_TOKENS`.
 */
export const JINA_USD_PER_MILLION_TOKENS = 0.05;
const jinaRef = { id: 'jina', auth: { envVar: 'JINA_API_KEY', required: false } } as const;

function mapJinaError(res: HttpResponse) {
  const body = (res.body && typeof res.body === 'object' ? res.body : {}) as {
    retryAfter?: unknown;
    message?: unknown;
    name?: unknown;
  };
  const detail = `${typeof body.name === 'string' ? `${body.name}: ` : ''}${typeof body.message === 'string' ? body.message : res.text.slice(0, 160)}`;
  if (res.status === 429) {
    const seconds =
      typeof body.retryAfter === 'number' ? body.retryAfter : Number(res.headers.get('retry-after'));
    return new ThrottledError(`jina rate limit hit (HTTP 429 ${detail}); set JINA_API_KEY for 200 RPM`, {
      retryAfterMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined,
    });
  }
  if (res.status === 402) {
    return new QuotaExhaustedError(
      `jina token balance is used up (HTTP 402 ${detail}); top up the key in JINA_API_KEY`,
    );
  }
  // 422/451: the target page could not be loaded or is blocked; asking again will not help.
  if (res.status === 422 || res.status === 451)
    return new NotFoundError(`jina could not read the page (HTTP ${res.status} ${detail})`);
  return defaultMapError(jinaRef, res);
}

const readResponse = z.object({
  data: z.object({
    title: z.string().nullable().optional(),
    description: z.string().nullable().optional(),
    url: z.string().nullable().optional(),
    content: z.string(),
    usage: z.object({ tokens: z.number() }).optional(),
  }),
});

const read = defineOperation({
  description: 'read a web page as markdown (title, description, content)',
  input: z.object({ url: z.string().min(1) }),
  output: z.object({
    url: z.string(),
    title: z.string().nullable(),
    description: z.string().nullable(),
    content: z.string(),
    tokens: z.number(),
  }),
  priceUsd: 0.0001,
  cacheTtlMs: 7 * 86_400_000,
  async run(ctx, input) {
    const target = /^https?:\/\//i.test(input.url) ? input.url : `https://${input.url}`;
    if (!/^https?:\/\/[^/\s]+/i.test(target))
      throw new CriticalError(`jina read: ${JSON.stringify(input.url)} is not an http(s) URL`);
    const res = await ctx.request({
      method: 'GET',
      path: `/${target}`,
      headers: { accept: 'application/json' },
    });
    const { data } = parseBody(jinaRef, readResponse, res);
    const tokens =
      data.usage?.tokens ?? (Number(res.headers.get('x-usage-tokens')) || Math.ceil(data.content.length / 4));
    if (data.content.trim() === '') return { found: false, costUsd: 0 };
    return {
      found: true,
      output: {
        url: data.url ?? target,
        title: data.title ?? null,
        description: data.description ?? null,
        content: data.content,
        tokens,
      },
      costUsd:
        (tokens / 1_000_000) *
        numberSetting(ctx, 'SLUICE_JINA_USD_PER_MILLION_TOKENS', JINA_USD_PER_MILLION_TOKENS),
    };
  },
});

export const jina = defineProvider({
  id: 'jina',
  name: 'Jina AI Reader',
  auth: { envVar: 'JINA_API_KEY', required: false },
  baseUrl: 'https://r.jina.ai',
  applyAuth: (req, apiKey) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${apiKey}` } }),
  limits: [{ limit: 200, windowMs: 60_000, label: '200/min' }],
  concurrency: 5,
  mapError: mapJinaError,
  async probe(ctx) {
    try {
      await ctx.request({
        method: 'GET',
        path: '/https://example.com',
        headers: { accept: 'application/json' },
      });
    } catch (err) {
      // The reader answered (it could not load the target): base URL and key are fine.
      if (!(err instanceof NotFoundError)) throw err;
    }
    return ctx.apiKey ? 'reader reachable, key valid' : 'reader reachable (no key: 20 requests/min)';
  },
  operations: { read },
});
