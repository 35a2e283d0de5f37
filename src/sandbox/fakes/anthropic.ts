import { type Context, Hono } from 'hono';
import type { SandboxModel } from '../sandbox-model.ts';
import type { World } from '../world.ts';
import { FakeKit, type FakeOptions, type FakeServer, malformed } from './fake-kit.ts';
import { asSchema, type ChatMessage, jsonBody, promptOf, spentWindow, tokens } from './model-kit.ts';

/**
 * Fake Anthropic Messages API (`POST /v1/messages`, as @ai-sdk/anthropic sends it): `x-api-key` and
 * `anthropic-version` headers, structured output either as a forced `json` tool (answered with a
 * `tool_use` block) or as `output_config.format` json_schema (answered with the JSON as text),
 * Anthropic's error envelope, 429 `rate_limit_error` with Retry-After, 529 `overloaded_error` as the
 * transient fault. Answers come from the sandbox model.
 */
export interface AnthropicFakeOptions extends FakeOptions {
  /** Requests per minute the fake allows. Default 4 000 (tier 4). */
  perMinute?: number;
}

const aerr = (c: Context, status: number, type: string, message: string) =>
  c.json({ type: 'error', error: { type, message } }, status as 400);

interface Tool {
  name?: string;
  input_schema?: unknown;
}

export function createAnthropicFake(
  world: World,
  model: SandboxModel,
  options: AnthropicFakeOptions = {},
): FakeServer {
  const kit = new FakeKit('anthropic', options, { latencyMs: 700, coverage: 1, wrongRate: 0 }, world.seed);
  const perMinute = options.perMinute ?? 4_000;
  const app = new Hono();
  app.post('/v1/messages', async (c) => {
    await kit.enter(c);
    if (c.req.header('x-api-key') !== kit.apiKey)
      return aerr(c, 401, 'authentication_error', 'invalid x-api-key');
    if (!c.req.header('anthropic-version'))
      return aerr(c, 400, 'invalid_request_error', 'anthropic-version: header is required');
    const wait = spentWindow(kit, perMinute);
    c.header('anthropic-ratelimit-requests-limit', String(perMinute));
    if (wait !== undefined) {
      c.header('retry-after', String(wait));
      c.header('anthropic-ratelimit-requests-remaining', '0');
      return aerr(c, 429, 'rate_limit_error', 'Number of requests has exceeded your per-minute rate limit.');
    }
    if (kit.control.mode === 'quota')
      return aerr(
        c,
        400,
        'invalid_request_error',
        'Your credit balance is too low to access the Anthropic API.',
      );
    if (kit.control.mode === 'malformed') return malformed(c);
    const body = await jsonBody<{
      model?: string;
      max_tokens?: number;
      system?: unknown;
      messages?: ChatMessage[];
      tools?: Tool[];
      tool_choice?: { type?: string; name?: string };
      output_config?: { format?: { type?: string; schema?: unknown } };
    }>(c);
    if (!body?.model || !Array.isArray(body.messages) || typeof body.max_tokens !== 'number')
      return aerr(c, 400, 'invalid_request_error', 'model, max_tokens and messages are required');
    const { system, prompt } = promptOf(body.messages, body.system);
    await kit.delay(prompt);
    if (kit.control.mode === 'server-error' || kit.fault(prompt))
      return aerr(c, 529, 'overloaded_error', 'Overloaded');
    const forced = body.tool_choice?.type === 'tool' || body.tool_choice?.type === 'any';
    const tool = forced
      ? (body.tools?.find((t) => t.name === body.tool_choice?.name) ?? body.tools?.[0])
      : undefined;
    const format = body.output_config?.format;
    const schema = tool
      ? asSchema(tool.input_schema)
      : format?.type === 'json_schema'
        ? asSchema(format.schema)
        : undefined;
    const answer = model.answer({ system, prompt, schema, webSearch: false });
    const usage = {
      input_tokens: tokens(system + prompt),
      output_tokens: tokens(answer.text),
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    };
    const id = `msg_sandbox${usage.input_tokens}x${usage.output_tokens}`;
    const content =
      tool && answer.object
        ? [{ type: 'tool_use', id: `toolu_${id.slice(4)}`, name: tool.name ?? 'json', input: answer.object }]
        : [{ type: 'text', text: answer.text }];
    return c.json({
      id,
      type: 'message',
      role: 'assistant',
      model: body.model,
      content,
      stop_reason: tool ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage,
    });
  });
  app.notFound((c) => aerr(c, 404, 'not_found_error', 'Not found'));
  return { app, control: kit.control, stats: kit.stats, apiKey: kit.apiKey };
}
