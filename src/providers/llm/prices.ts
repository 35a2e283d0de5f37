/**
 * USD per million tokens (input, output) by model id prefix, and Perplexity's per-request fee.
 * Sources: vendors' public pricing pages as of 2025 (Perplexity per docs/provider-apis.md §7).
 * The longest matching prefix wins; unknown models cost 0 and are reported as unpriced.
 */
export interface ModelPrice {
  inputPerMTok: number;
  outputPerMTok: number;
  /** Perplexity: USD per 1 000 requests by search context size. */
  requestFeePer1k?: { low: number; medium: number; high: number };
}

const SONAR_FEE = { low: 5, medium: 8, high: 12 };
const SONAR_PRO_FEE = { low: 6, medium: 10, high: 14 };

export const MODEL_PRICES: Record<string, ModelPrice> = {
  'perplexity:sonar': { inputPerMTok: 1, outputPerMTok: 1, requestFeePer1k: SONAR_FEE },
  'perplexity:sonar-pro': { inputPerMTok: 3, outputPerMTok: 15, requestFeePer1k: SONAR_PRO_FEE },
  'perplexity:sonar-reasoning': { inputPerMTok: 1, outputPerMTok: 5, requestFeePer1k: SONAR_FEE },
  'perplexity:sonar-reasoning-pro': { inputPerMTok: 2, outputPerMTok: 8, requestFeePer1k: SONAR_PRO_FEE },
  'perplexity:sonar-deep-research': { inputPerMTok: 2, outputPerMTok: 8 },
  'anthropic:claude-opus-4': { inputPerMTok: 15, outputPerMTok: 75 },
  'anthropic:claude-opus-4-5': { inputPerMTok: 5, outputPerMTok: 25 },
  'anthropic:claude-sonnet-4': { inputPerMTok: 3, outputPerMTok: 15 },
  'anthropic:claude-3-7-sonnet': { inputPerMTok: 3, outputPerMTok: 15 },
  'anthropic:claude-3-5-haiku': { inputPerMTok: 0.8, outputPerMTok: 4 },
  'anthropic:claude-haiku-4': { inputPerMTok: 1, outputPerMTok: 5 },
  'openai:gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10 },
  'openai:gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  'openai:gpt-4.1': { inputPerMTok: 2, outputPerMTok: 8 },
  'openai:gpt-4.1-mini': { inputPerMTok: 0.4, outputPerMTok: 1.6 },
  'openai:gpt-5': { inputPerMTok: 1.25, outputPerMTok: 10 },
  'openai:gpt-5-mini': { inputPerMTok: 0.25, outputPerMTok: 2 },
  'sandbox:': { inputPerMTok: 1, outputPerMTok: 5 },
};

/** The price entry for `vendor:model` (longest prefix match), or undefined. */
export function priceFor(modelId: string): ModelPrice | undefined {
  let best: string | undefined;
  for (const key of Object.keys(MODEL_PRICES)) {
    if (modelId.startsWith(key) && (!best || key.length > best.length)) best = key;
  }
  return best ? MODEL_PRICES[best] : undefined;
}

/** USD for one call: tokens at the model's rates plus the per-request fee when the vendor has one. */
export function costOf(
  modelId: string,
  usage: { inputTokens: number; outputTokens: number },
  searchContextSize: 'low' | 'medium' | 'high' = 'low',
): number {
  const p = priceFor(modelId);
  if (!p) return 0;
  const tokens = (usage.inputTokens * p.inputPerMTok + usage.outputTokens * p.outputPerMTok) / 1_000_000;
  const fee = p.requestFeePer1k ? p.requestFeePer1k[searchContextSize] / 1000 : 0;
  return Math.round((tokens + fee) * 1e8) / 1e8;
}

/** Output tokens an LLM call may use when the step sets no `max_tokens` (sent as the call's limit). */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4_096;

/**
 * An upper estimate of a prompt's input tokens: one per 3 characters of prompt, system text and
 * schema (real tokenizers average about 4), plus a little for the message framing.
 */
export function estimateTokens(input: { prompt: string; system?: string; schema?: unknown }): number {
  const chars =
    input.prompt.length +
    (input.system?.length ?? 0) +
    (input.schema ? JSON.stringify(input.schema).length : 0);
  return Math.ceil(chars / 3) + 16;
}

/**
 * The most a call can cost: its input at the model's input price and `maxOutputTokens` (default
 * DEFAULT_MAX_OUTPUT_TOKENS) at its output price, plus the request fee. What budgets reserve.
 */
export function maxCostOf(modelId: string, inputTokens: number, maxOutputTokens?: number): number {
  return costOf(modelId, { inputTokens, outputTokens: maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS });
}
