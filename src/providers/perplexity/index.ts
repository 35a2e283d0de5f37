import { z } from 'zod';
import { CriticalError, QuotaExhaustedError, ThrottledError } from '../../errors.ts';
import { defineOperation, defineProvider, type HttpResponse } from '../define-provider.ts';
import { defaultMapError, parseBody, parseRetryAfter } from '../http.ts';
import { costOf } from '../llm/prices.ts';
import { stringSetting } from '../settings.ts';

/**
 * Perplexity Sonar chat completions with citations (docs/provider-apis.md §7). Bearer key. The model
 * and path are configurable (`SLUICE_PERPLEXITY_MODEL`, `SLUICE_PERPLEXITY_CHAT_PATH`) because the
 * chat-completions API may be replaced. Cost = tokens + the per-request fee for the search context size.
 */
const perplexityRef = { id: 'perplexity', auth: { envVar: 'PERPLEXITY_API_KEY', required: true } } as const;

function mapPerplexityError(res: HttpResponse) {
  const msg = (res.body as { error?: { message?: string } } | null)?.error?.message ?? res.text.slice(0, 160);
  if (res.status === 429) {
    return new ThrottledError(`perplexity rate limit hit (HTTP 429: ${msg})`, {
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
    });
  }
  if (res.status === 402)
    return new QuotaExhaustedError(
      `perplexity credits are used up (HTTP 402: ${msg}); add credits to the API account`,
    );
  return defaultMapError(perplexityRef, res);
}

const chatResponse = z.object({
  model: z.string().optional(),
  choices: z.array(z.object({ message: z.object({ content: z.string() }) })).min(1),
  citations: z.array(z.string()).nullable().optional(),
  search_results: z
    .array(z.object({ url: z.string(), title: z.string().nullable().optional() }))
    .nullable()
    .optional(),
  usage: z.object({
    prompt_tokens: z.number(),
    completion_tokens: z.number(),
    search_context_size: z.enum(['low', 'medium', 'high']).nullable().optional(),
    cost: z.object({ total_cost: z.number() }).partial().nullable().optional(),
  }),
});

const chat = defineOperation({
  description: 'ask Sonar a question answered from web search, with citations (optionally as JSON)',
  input: z.object({
    prompt: z.string().min(1),
    system: z.string().optional(),
    /** Default `sonar` (or SLUICE_PERPLEXITY_MODEL). */
    model: z.string().optional(),
    search_context_size: z.enum(['low', 'medium', 'high']).optional(),
    search_domain_filter: z.array(z.string()).optional(),
    /** A JSON schema: the answer is returned parsed in `json`. */
    json_schema: z.record(z.string(), z.unknown()).optional(),
  }),
  output: z.object({
    content: z.string(),
    citations: z.array(z.string()),
    json: z.unknown(),
    model: z.string(),
    input_tokens: z.number(),
    output_tokens: z.number(),
  }),
  priceUsd: 0.006,
  async run(ctx, input) {
    const model = input.model ?? stringSetting(ctx, 'SLUICE_PERPLEXITY_MODEL', 'sonar');
    const size = input.search_context_size ?? 'low';
    const res = await ctx.request({
      method: 'POST',
      path: stringSetting(ctx, 'SLUICE_PERPLEXITY_CHAT_PATH', '/chat/completions'),
      body: {
        model,
        messages: [
          ...(input.system ? [{ role: 'system', content: input.system }] : []),
          { role: 'user', content: input.prompt },
        ],
        search_domain_filter: input.search_domain_filter,
        web_search_options: { search_context_size: size },
        response_format: input.json_schema
          ? { type: 'json_schema', json_schema: { schema: input.json_schema } }
          : undefined,
      },
    });
    const body = parseBody(perplexityRef, chatResponse, res);
    const content = body.choices[0]!.message.content;
    let json: unknown = null;
    if (input.json_schema) {
      try {
        json = JSON.parse(content.replace(/^```(?:json)?\s*|\s*```$/g, ''));
      } catch (err) {
        throw new CriticalError(
          `perplexity returned content that is not the requested JSON: ${JSON.stringify(content.slice(0, 120))}`,
          { cause: err },
        );
      }
    }
    const usage = { inputTokens: body.usage.prompt_tokens, outputTokens: body.usage.completion_tokens };
    const citations = body.citations ?? body.search_results?.map((r) => r.url) ?? [];
    return {
      found: true,
      output: {
        content,
        citations,
        json,
        model: body.model ?? model,
        input_tokens: usage.inputTokens,
        output_tokens: usage.outputTokens,
      },
      costUsd:
        body.usage.cost?.total_cost ??
        costOf(`perplexity:${model}`, usage, body.usage.search_context_size ?? size),
    };
  },
});

/**
 * Perplexity's account limits (tier 0 is about 50 requests per minute for sonar models), shared with
 * the llm provider's `perplexity:` models: one account, one limiter, one daily cap.
 */
export const PERPLEXITY_LIMITS = [{ limit: 50, windowMs: 60_000, label: '50/min' }];

export const perplexity = defineProvider({
  id: 'perplexity',
  name: 'Perplexity Sonar',
  auth: { envVar: 'PERPLEXITY_API_KEY', required: true },
  baseUrl: 'https://api.perplexity.ai',
  applyAuth: (req, apiKey) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${apiKey}` } }),
  limits: PERPLEXITY_LIMITS,
  concurrency: 5,
  mapError: mapPerplexityError,
  // Perplexity has no free endpoint: the smallest sonar call (1 output token, ~$0.005).
  async probe(ctx) {
    await ctx.request({
      method: 'POST',
      path: stringSetting(ctx, 'SLUICE_PERPLEXITY_CHAT_PATH', '/chat/completions'),
      body: {
        model: stringSetting(ctx, 'SLUICE_PERPLEXITY_MODEL', 'sonar'),
        max_tokens: 1,
        messages: [{ role: 'user', content: 'ping' }],
      },
    });
    return 'key valid (one sonar call, about $0.005)';
  },
  operations: { chat },
});
