import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { createPerplexity } from '@ai-sdk/perplexity';
import type { LanguageModelV3 } from '@ai-sdk/provider';
import { APICallError, generateObject, generateText, jsonSchema, NoObjectGeneratedError } from 'ai';
import { z } from 'zod';
import {
  ConfigError,
  CriticalError,
  QuotaExhaustedError,
  RetryableError,
  ThrottledError,
} from '../../errors.ts';
import { defineOperation, defineProvider, type OperationContext } from '../define-provider.ts';
import { parseRetryAfter } from '../http.ts';
import { PERPLEXITY_LIMITS } from '../perplexity/index.ts';
import { costOf, DEFAULT_MAX_OUTPUT_TOKENS, estimateTokens, maxCostOf } from './prices.ts';

/**
 * LLM calls through the AI SDK. Model ids are `vendor:model` (`anthropic:claude-sonnet-4-5`,
 * `openai:gpt-4o-mini`, `perplexity:sonar`). Keys: ANTHROPIC_API_KEY / OPENAI_API_KEY /
 * PERPLEXITY_API_KEY; base URLs overridable with SLUICE_ANTHROPIC_BASE_URL / SLUICE_OPENAI_BASE_URL /
 * SLUICE_PERPLEXITY_BASE_URL (the sandbox's OpenAI-, Anthropic- and Perplexity-compatible fakes are
 * reached this way, over HTTP like the real vendors). `services.languageModel`, when set, replaces the
 * vendor SDKs (an in-process model for tests of the step machinery).
 * The SDK's own retries are off: the gateway retries.
 */
export const LLM_VENDORS = {
  anthropic: { envVar: 'ANTHROPIC_API_KEY', baseUrlVar: 'SLUICE_ANTHROPIC_BASE_URL' },
  openai: { envVar: 'OPENAI_API_KEY', baseUrlVar: 'SLUICE_OPENAI_BASE_URL' },
  perplexity: { envVar: 'PERPLEXITY_API_KEY', baseUrlVar: 'SLUICE_PERPLEXITY_BASE_URL' },
} as const;
type Vendor = keyof typeof LLM_VENDORS;

export function parseModelId(modelId: string): { vendor: Vendor; model: string } {
  const m = /^(anthropic|openai|perplexity):(.+)$/.exec(modelId);
  if (!m) {
    throw new ConfigError(
      `model ${JSON.stringify(modelId)} is not "anthropic:<model>", "openai:<model>" or "perplexity:<model>"`,
      { exitCode: 2 },
    );
  }
  return { vendor: m[1] as Vendor, model: m[2]! };
}

/** Checks before a run that every model's vendor key is set (unless the sandbox model is used). */
export function checkModelCredentials(
  modelIds: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): void {
  const missing = [...new Set(modelIds.map((id) => LLM_VENDORS[parseModelId(id).vendor].envVar))].filter(
    (v) => !env[v]?.trim(),
  );
  if (missing.length > 0) {
    throw new ConfigError(
      `missing API key${missing.length > 1 ? 's' : ''} for the pipeline's AI steps: ${missing.join(', ')}. Set them in the environment or .env.`,
    );
  }
}

function realModel(ctx: OperationContext, modelId: string): LanguageModelV3 {
  const { vendor, model } = parseModelId(modelId);
  const v = LLM_VENDORS[vendor];
  const apiKey = ctx.env?.[v.envVar]?.trim();
  if (!apiKey) throw new ConfigError(`${v.envVar} is not set; it is needed for model ${modelId}`);
  const baseURL = ctx.env?.[v.baseUrlVar]?.trim() || undefined;
  if (vendor === 'anthropic') return createAnthropic({ apiKey, baseURL })(model);
  // Chat Completions, not the Responses API: what OpenAI-compatible servers (and the sandbox) speak.
  if (vendor === 'openai') return createOpenAI({ apiKey, baseURL }).chat(model);
  return createPerplexity({ apiKey, baseURL })(model);
}

/** AI SDK errors -> Sluice errors (the LLM's equivalent of the http.ts mapping). */
function mapAiError(err: unknown, modelId: string): Error {
  if (APICallError.isInstance(err)) {
    const status = err.statusCode ?? 0;
    const what = `${modelId} answered HTTP ${status}: ${err.message}`;
    // Money, not speed: OpenAI's 429 insufficient_quota, Anthropic's 400 "credit balance is too low".
    if (/insufficient_quota|credit balance is too low/i.test(err.responseBody ?? ''))
      return new QuotaExhaustedError(`${what} (credits used up)`, { cause: err });
    if (status === 429)
      return new ThrottledError(what, {
        cause: err,
        retryAfterMs: parseRetryAfter(err.responseHeaders?.['retry-after']),
      });
    if (status === 402) return new QuotaExhaustedError(`${what} (credits used up)`, { cause: err });
    if (status === 401 || status === 403) {
      const envVar = LLM_VENDORS[parseModelId(modelId).vendor].envVar;
      return new CriticalError(`${what} (authentication failed: check ${envVar})`, { cause: err });
    }
    // A 2xx that failed to parse (truncated, garbled) says nothing about the answer: retried like a 5xx.
    if (status >= 500 || status === 0 || err.isRetryable || (status >= 200 && status < 300))
      return new RetryableError(what, { cause: err });
    return new CriticalError(what, { cause: err });
  }
  if (NoObjectGeneratedError.isInstance(err)) {
    // The model answered (and the vendor bills its tokens), but not with JSON matching the schema.
    const usage = { inputTokens: err.usage?.inputTokens ?? 0, outputTokens: err.usage?.outputTokens ?? 0 };
    return new CriticalError(`${modelId} did not return JSON matching the schema: ${err.message}`, {
      cause: err,
      billedUsd: costOf(modelId, usage),
    });
  }
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) return err;
  return err instanceof Error
    ? new RetryableError(`${modelId} call failed: ${err.message}`, { cause: err })
    : new RetryableError(String(err));
}

const generate = defineOperation({
  description: 'prompt an LLM; with `schema`, the answer is a JSON object validated against it',
  input: z.object({
    model: z.string().min(3),
    prompt: z.string().min(1),
    system: z.string().optional(),
    /** JSON Schema of the answer (object). Without it the answer is text. */
    schema: z.record(z.string(), z.unknown()).optional(),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().positive().optional(),
  }),
  output: z.object({
    text: z.string().nullable(),
    object: z.unknown(),
    model: z.string(),
    input_tokens: z.number(),
    output_tokens: z.number(),
  }),
  priceUsd: 0.01,
  maxPriceUsd: (input) => maxCostOf(input.model, estimateTokens(input), input.max_tokens),
  timeoutMs: 120_000,
  async run(ctx, input) {
    const model = ctx.services.languageModel
      ? ctx.services.languageModel(input.model)
      : realModel(ctx, input.model);
    const timeoutMs = ctx.timeoutMs ?? 120_000;
    const timeout = AbortSignal.timeout(timeoutMs);
    const common = {
      model,
      prompt: input.prompt,
      system: input.system,
      temperature: input.temperature,
      // Always bounded, so the budget reservation (maxCostOf) is a real upper bound.
      maxOutputTokens: input.max_tokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
      maxRetries: 0,
      abortSignal: AbortSignal.any([ctx.signal, timeout]),
    };
    try {
      if (input.schema) {
        const r = await generateObject({
          ...common,
          schema: jsonSchema(input.schema as Parameters<typeof jsonSchema>[0]),
        });
        const usage = { inputTokens: r.usage.inputTokens ?? 0, outputTokens: r.usage.outputTokens ?? 0 };
        return {
          found: true,
          output: {
            text: null,
            object: r.object,
            model: input.model,
            input_tokens: usage.inputTokens,
            output_tokens: usage.outputTokens,
          },
          costUsd: costOf(input.model, usage),
        };
      }
      const r = await generateText(common);
      const usage = { inputTokens: r.usage.inputTokens ?? 0, outputTokens: r.usage.outputTokens ?? 0 };
      return {
        found: true,
        output: {
          text: r.text,
          object: null,
          model: input.model,
          input_tokens: usage.inputTokens,
          output_tokens: usage.outputTokens,
        },
        costUsd: costOf(input.model, usage),
      };
    } catch (err) {
      if (timeout.aborted && !ctx.signal.aborted) {
        throw new RetryableError(`${input.model} timed out after ${timeoutMs} ms`, { cause: err });
      }
      throw mapAiError(err, input.model);
    }
  },
});

export const llm = defineProvider({
  id: 'llm',
  name: 'LLMs via the AI SDK (Anthropic, OpenAI, Perplexity)',
  // Keys depend on the model (see LLM_VENDORS); checked per model by checkModelCredentials.
  baseUrl: '',
  // Each vendor is its own account (limits, daily cap, circuit); `perplexity` is the same account as
  // the perplexity provider's, so both count against one limiter and one daily cap.
  accountOf: (_operation, input) => {
    const model = (input as { model?: unknown }).model;
    return typeof model === 'string' ? (/^(anthropic|openai|perplexity):/.exec(model)?.[1] ?? 'llm') : 'llm';
  },
  // Defaults are the vendors' entry tiers (Anthropic tier 1: 50 RPM; OpenAI tier 1: 500 RPM); set
  // SLUICE_ANTHROPIC_LIMITS / SLUICE_OPENAI_LIMITS for yours.
  accounts: {
    anthropic: { limits: [{ limit: 50, windowMs: 60_000, label: '50/min' }] },
    openai: { limits: [{ limit: 500, windowMs: 60_000, label: '500/min' }] },
    perplexity: { limits: PERPLEXITY_LIMITS },
  },
  limits: [{ limit: 50, windowMs: 60_000, label: '50/min' }],
  concurrency: 5,
  operations: { generate },
  probe: async (ctx) => {
    const set = Object.entries(LLM_VENDORS)
      .filter(([, v]) => ctx.env?.[v.envVar]?.trim())
      .map(([k]) => k);
    return set.length > 0
      ? `keys set for: ${set.join(', ')} (not called, to spend nothing)`
      : 'no LLM keys set';
  },
});
