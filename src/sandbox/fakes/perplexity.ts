import { type Context, Hono } from 'hono';
import { costOf } from '../../providers/llm/prices.ts';
import type { SandboxModel } from '../sandbox-model.ts';
import type { World } from '../world.ts';
import { FakeKit, type FakeOptions, type FakeServer, malformed } from './fake-kit.ts';
import { asSchema, type ChatMessage, promptOf, tokens } from './model-kit.ts';

/**
 * Fake Perplexity Sonar (docs/provider-apis.md §7): `POST /chat/completions`, Bearer auth, OpenAI-style
 * errors, 429 with Retry-After, top-level `citations` and `search_results`, usage with cost. Answers
 * come from the sandbox model searching the simulated index (coverage below 1, some results wrong),
 * as JSON when `response_format.json_schema` is given. Also serves @ai-sdk/perplexity.
 */
export interface PerplexityFakeOptions extends FakeOptions {
  /** Requests per minute. Default 500 (tier 0 is ~50; the sandbox is generous so demos stay fast). */
  perMinute?: number;
}

const perr = (c: Context, status: number, type: string, message: string) =>
  c.json({ error: { message, type, code: status } }, status as 400);

export function createPerplexityFake(
  world: World,
  model: SandboxModel,
  options: PerplexityFakeOptions = {},
): FakeServer {
  const kit = new FakeKit('perplexity', options, { latencyMs: 400, coverage: 1, wrongRate: 0 }, world.seed);
  const app = new Hono();
  app.post('/chat/completions', async (c) => {
    await kit.enter(c);
    if (c.req.header('authorization') !== `Bearer ${kit.apiKey}`)
      return perr(c, 401, 'invalid_api_key', 'Invalid API key provided');
    const t = kit.take('rpm', options.perMinute ?? 500, 60_000);
    if (!t.allowed || kit.control.mode === 'throttle') {
      return c.json(
        { error: { message: 'Rate limit exceeded', type: 'rate_limit_exceeded', code: 429 } },
        429,
        {
          'retry-after': String(
            kit.control.mode === 'throttle' ? 3 : Math.max(1, Math.ceil(t.resetMs / 1000)),
          ),
        },
      );
    }
    if (kit.control.mode === 'quota')
      return perr(c, 402, 'insufficient_quota', 'Insufficient credits. Add credits to your API account.');
    if (kit.control.mode === 'malformed') return malformed(c);
    const body = (await c.req.json().catch(() => null)) as {
      model?: string;
      messages?: ChatMessage[];
      response_format?: { type?: string; json_schema?: { schema?: unknown } };
      web_search_options?: { search_context_size?: 'low' | 'medium' | 'high' };
    } | null;
    if (!body?.model || !Array.isArray(body.messages))
      return perr(c, 400, 'invalid_request_error', 'model and messages are required');
    const { system, prompt } = promptOf(body.messages);
    await kit.delay(prompt);
    if (kit.control.mode === 'server-error' || kit.fault(prompt))
      return perr(c, 503, 'service_unavailable', 'The server is overloaded');
    const answer = model.answer({
      system,
      prompt,
      schema: asSchema(body.response_format?.json_schema?.schema),
      webSearch: true,
    });
    const content = answer.text;
    const usage = { inputTokens: tokens(system + prompt), outputTokens: tokens(content) };
    const size = body.web_search_options?.search_context_size ?? 'low';
    const total = costOf(`perplexity:${body.model}`, usage, size);
    const citations = answer.citations;
    return c.json({
      id: `sandbox-${usage.inputTokens}-${usage.outputTokens}`,
      model: body.model,
      created: 1747113806,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          finish_reason: 'stop',
          message: { role: 'assistant', content },
          delta: { role: 'assistant', content: '' },
        },
      ],
      citations,
      search_results: citations.map((url) => ({
        title: url,
        url,
        date: '2025-01-01',
        last_updated: '2025-01-01',
        snippet: '',
      })),
      usage: {
        prompt_tokens: usage.inputTokens,
        completion_tokens: usage.outputTokens,
        total_tokens: usage.inputTokens + usage.outputTokens,
        search_context_size: size,
        citation_tokens: null,
        num_search_queries: 1,
        reasoning_tokens: null,
        cost: { total_cost: total },
      },
    });
  });
  app.notFound((c) => perr(c, 404, 'not_found', 'Not found'));
  return { app, control: kit.control, stats: kit.stats, apiKey: kit.apiKey };
}
