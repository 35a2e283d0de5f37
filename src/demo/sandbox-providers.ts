import type { ProviderDefinition, RateLimitSpec } from '../providers/define-provider.ts';
import { providers as registry } from '../providers/registry.ts';

/**
 * Provider definitions as the demo uses them. Everything is the real definition (real adapters,
 * real request code, real prices) except the declared limits of two providers that the sandbox does
 * not rate-limit like the real service:
 * - `llm`: the sandbox LLM answers in-process, so the 50/min tier of a new Anthropic/OpenAI account
 *   would only make the demo wait; it gets 200/s.
 * - `perplexity`: its fake enforces 500/min (a paid tier), so the gateway is told the same.
 * - `apollo`: only its per-minute window is declared. The gateway spaces calls evenly in every
 *   window, so the hourly 2000/h alone would allow one call per 1.8 s; a demo lasts well under an
 *   hour and 200/min keeps it under both (the fake enforces both).
 * Hunter, Jina and the website fetcher keep their real limits, which their fakes enforce.
 */
const SANDBOX_LIMITS: Record<string, RateLimitSpec[]> = {
  llm: [{ limit: 200, windowMs: 1000, label: 'sandbox 200/s' }],
  perplexity: [{ limit: 500, windowMs: 60_000, label: 'sandbox 500/min' }],
  apollo: [{ limit: 200, windowMs: 60_000, label: '200/min' }],
};
const SANDBOX_CONCURRENCY: Record<string, number> = { llm: 32, perplexity: 16 };

export function sandboxProviders(): (id: string) => ProviderDefinition | undefined {
  const byId = new Map<string, ProviderDefinition>();
  for (const p of registry) {
    const limits = SANDBOX_LIMITS[p.id];
    byId.set(p.id, limits ? { ...p, limits, concurrency: SANDBOX_CONCURRENCY[p.id] ?? p.concurrency } : p);
  }
  return (id) => byId.get(id);
}
