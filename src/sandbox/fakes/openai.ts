import { type Context, Hono } from 'hono';
import type { SandboxModel } from '../sandbox-model.ts';
import type { World } from '../world.ts';
import { FakeKit, type FakeOptions, type FakeServer, malformed } from './fake-kit.ts';
import { asSchema, type ChatMessage, jsonBody, promptOf, spentWindow, tokens } from './model-kit.ts';

/**
 * Fake OpenAI Chat Completions (`POST /v1/chat/completions`, as @ai-sdk/openai's `.chat()` model sends
 * it): Bearer auth, `response_format: {type: 'json_schema', json_schema: {schema}}` answered with the
 * JSON in `choices[0].message.content`, OpenAI's error envelope, 429 `rate_limit_exceeded` with
 * Retry-After and `x-ratelimit-*` headers, transient 500/503. Answers come from the sandbox model.
 */
export interface OpenAiFakeOptions extends FakeOptions {
  /** Requests per minute the fake allows. Default 5 000 (a paid tier). */
  perMinute?: number;
}

const oerr = (c: Context, status: number, type: string, code: string, message: string) =>
  c.json({ error: { message, type, param: null, code } }, status as 400);

export function createOpenAiFake(
  world: World,
  model: SandboxModel,
  options: OpenAiFakeOptions = {},
): FakeServer {
  const kit = new FakeKit('openai', options, { latencyMs: 500, coverage: 1, wrongRate: 0 }, world.seed);
  const perMinute = options.perMinute ?? 5_000;
  const app = new Hono();
  app.post('/v1/chat/completions', async (c) => {
    await kit.enter(c);
    if (c.req.header('authorization') !== `Bearer ${kit.apiKey}`)
      return oerr(c, 401, 'invalid_request_error', 'invalid_api_key', 'Incorrect API key provided.');
    const wait = spentWindow(kit, perMinute);
    c.header('x-ratelimit-limit-requests', String(perMinute));
    if (wait !== undefined) {
      c.header('retry-after', String(wait));
      c.header('x-ratelimit-remaining-requests', '0');
      return oerr(
        c,
        429,
        'requests',
        'rate_limit_exceeded',
        `Rate limit reached for requests per min (RPM): Limit ${perMinute}. Please try again in ${wait}s.`,
      );
    }
    if (kit.control.mode === 'quota')
      return oerr(
        c,
        429,
        'insufficient_quota',
        'insufficient_quota',
        'You exceeded your current quota, please check your plan and billing details.',
      );
    if (kit.control.mode === 'malformed') return malformed(c);
    const body = await jsonBody<{
      model?: string;
      messages?: ChatMessage[];
      response_format?: { type?: string; json_schema?: { schema?: unknown } };
    }>(c);
    if (!body?.model || !Array.isArray(body.messages))
      return oerr(c, 400, 'invalid_request_error', 'invalid_request', "'model' and 'messages' are required");
    const { system, prompt } = promptOf(body.messages);
    await kit.delay(prompt);
    if (kit.control.mode === 'server-error' || kit.fault(prompt))
      return oerr(c, 503, 'server_error', 'server_error', 'The server is overloaded or not ready yet.');
    const answer = model.answer({
      system,
      prompt,
      schema:
        body.response_format?.type === 'json_schema'
          ? asSchema(body.response_format.json_schema?.schema)
          : undefined,
      webSearch: false,
    });
    const usage = { prompt_tokens: tokens(system + prompt), completion_tokens: tokens(answer.text) };
    return c.json({
      id: `chatcmpl-sandbox-${usage.prompt_tokens}-${usage.completion_tokens}`,
      object: 'chat.completion',
      created: 1_735_689_600,
      model: body.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: answer.text, refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
      system_fingerprint: 'fp_sandbox',
    });
  });
  app.notFound((c) =>
    oerr(
      c,
      404,
      'invalid_request_error',
      'unknown_url',
      `Unknown request URL: ${c.req.method} ${new URL(c.req.url).pathname}`,
    ),
  );
  return { app, control: kit.control, stats: kit.stats, apiKey: kit.apiKey };
}
