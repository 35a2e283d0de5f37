import { ConfigError } from '../errors.ts';
import type { RateLimitSpec } from '../providers/define-provider.ts';

/**
 * The written form of rate limits, for config and env: comma-separated `<count>/<window>`, the window
 * being `ms`, `s`, `min`, `h` or `day`, optionally with a number in front (`15/s,500/min`,
 * `190/10s,625000/day`). Each means "at most <count> calls in any <window>" (docs/gateway.md).
 * The same syntax as the CRM destinations' `SLUICE_<ID>_RATE_LIMIT` (src/crm/rate-override.ts).
 */
export const LIMITS_FORMAT =
  'comma-separated <count>/<window> with the window in ms, s, min, h or day, optionally with a number (e.g. "15/s,500/min" or "190/10s,625000/day")';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, min: 60_000, h: 3_600_000, day: 86_400_000 };
const PART = /^(\d+)\s*\/\s*(\d*(?:\.\d+)?)\s*(ms|s|min|h|day)$/;

/** `hunter` → `SLUICE_HUNTER_LIMITS`; `hunter`, `email-verifier` → `SLUICE_HUNTER_EMAIL_VERIFIER_LIMITS`. */
export function limitsEnvVar(accountId: string, operationId?: string): string {
  const id = operationId ? `${accountId}_${operationId}` : accountId;
  return `SLUICE_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_LIMITS`;
}

/** Parses `15/s,500/min`; a ConfigError naming `source` (the variable or config key) and the format. */
export function parseLimits(value: string, source: string): RateLimitSpec[] {
  const parts = value.split(',').map((p) => p.trim());
  return parts.map((part) => {
    const m = PART.exec(part);
    const limit = m ? Number(m[1]) : 0;
    const windowMs = m ? Number(m[2] || 1) * UNIT_MS[m[3]!]! : 0;
    if (!m || !(limit > 0) || !(windowMs > 0) || !Number.isSafeInteger(limit)) {
      throw new ConfigError(
        `${source}=${JSON.stringify(value)}: ${part === '' ? 'an empty limit' : `"${part}"`} is not a limit; expected ${LIMITS_FORMAT}. Fix or unset it (it may come from .env)`,
        { exitCode: 2 },
      );
    }
    return { limit, windowMs, label: part.replace(/\s+/g, '') };
  });
}

/** `15/s + 500/min` (labels when given, else `<n>/<ms>ms`). */
export function formatLimits(limits: readonly RateLimitSpec[]): string {
  return limits.length === 0
    ? 'none'
    : limits.map((l) => l.label ?? `${l.limit}/${l.windowMs}ms`).join(' + ');
}

/**
 * Every `SLUICE_*_LIMITS` variable of the environment, parsed, so a bad value stops the program at
 * start (naming the variable) instead of failing calls later. Returns variable → limits.
 */
export function limitsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Map<string, RateLimitSpec[]> {
  const out = new Map<string, RateLimitSpec[]>();
  for (const [name, raw] of Object.entries(env)) {
    if (!/^SLUICE_[A-Z0-9_]+_LIMITS$/.test(name)) continue;
    const value = raw?.trim();
    if (!value) continue;
    out.set(name, parseLimits(value, name));
  }
  return out;
}

/**
 * The fastest schedule the windows allow for `calls` calls starting at 0: each call at the earliest
 * time that keeps every window at most `limit` calls in any `windowMs` (greedy, which is optimal for
 * sliding windows). Returns the send times, ms; the last one is how long the calls need at least.
 */
export function fastestSchedule(calls: number, limits: readonly RateLimitSpec[]): number[] {
  const at: number[] = [];
  for (let k = 0; k < calls; k++) {
    let t = k > 0 ? at[k - 1]! : 0;
    for (const l of limits) if (k >= l.limit) t = Math.max(t, at[k - l.limit]! + l.windowMs);
    at.push(t);
  }
  return at;
}

/** Most calls in any window of `windowMs` among the sorted-or-not times `at` (the provider's count). */
export function busiestWindow(at: readonly number[], windowMs: number): number {
  const s = [...at].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < s.length; i++) {
    while (s[i]! - s[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}
