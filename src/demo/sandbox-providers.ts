import type { ProviderDefinition, RateLimitSpec } from '../providers/define-provider.ts';
import { providers as registry } from '../providers/registry.ts';

/**
 * Provider definitions as the demo uses them. Everything is the real definition (real adapters, real
 * request code over HTTP, real prices) except the declared limits below, which the demo raises so 200
 * courses finish in under a minute. The demo prints every one of them with the time the batch would
 * take at the real limit (from the forecast), so nobody mistakes the demo's speed for production's:
 * - `llm`: a new Anthropic/OpenAI/Perplexity account allows about 50 requests a minute; the demo's
 *   ~1 800 AI calls would take over half an hour at that rate.
 * - `perplexity`: tier 0 is 50/min for the account, which the llm provider's `perplexity:sonar` calls
 *   (water hazards, LinkedIn, phone, background: ~1 400 of the demo's requests) share with the
 *   website lookup. At 500/min that window alone held the batch for about 2.5 minutes, so the demo
 *   raises it like `llm`'s; the sandbox's fake allows SANDBOX_MODEL_RPM.
 * - `apollo`: only the per-minute window is declared (the hourly 2 000/h would bind only after ten
 *   minutes of calls at 200/min, which a demo never reaches). The fake enforces all three windows.
 * Hunter, Jina and the website fetcher keep their real limits, which their fakes enforce.
 */
export const SANDBOX_LIMITS: Readonly<Record<string, { limits: RateLimitSpec[]; concurrency?: number }>> = {
  llm: { limits: [{ limit: 100, windowMs: 1000, label: 'sandbox 100/s' }], concurrency: 96 },
  perplexity: { limits: [{ limit: 100, windowMs: 1000, label: 'sandbox 100/s' }], concurrency: 16 },
  apollo: { limits: [{ limit: 200, windowMs: 60_000, label: '200/min' }] },
};

/** Requests per minute the demo's model fakes allow (at least what the raised `llm` limit sends). */
export const SANDBOX_MODEL_RPM = 8_000;

/** One raised limit: what the provider really allows and what the demo declares instead. */
export interface ChangedLimit {
  provider: string;
  real: string;
  sandbox: string;
}

const describeLimits = (p: Pick<ProviderDefinition, 'limits' | 'concurrency'>) =>
  `${p.limits.map((l) => l.label ?? `${l.limit}/${l.windowMs}ms`).join(' + ')}, ${p.concurrency} at once`;

export function changedLimits(): ChangedLimit[] {
  return Object.entries(SANDBOX_LIMITS).map(([id, s]) => {
    const real = registry.find((p) => p.id === id)!;
    const sandbox = { limits: s.limits, concurrency: s.concurrency ?? real.concurrency };
    return { provider: id, real: describeLimits(real), sandbox: describeLimits(sandbox) };
  });
}

export function sandboxProviders(): (id: string) => ProviderDefinition | undefined {
  const byId = new Map<string, ProviderDefinition>();
  for (const p of registry) {
    const s = SANDBOX_LIMITS[p.id];
    // The raised limit replaces the per-vendor account defaults too (llm: Anthropic and OpenAI; its
    // Perplexity models count against the perplexity account, raised above).
    byId.set(
      p.id,
      s ? { ...p, limits: s.limits, accounts: undefined, concurrency: s.concurrency ?? p.concurrency } : p,
    );
  }
  return (id) => byId.get(id);
}
