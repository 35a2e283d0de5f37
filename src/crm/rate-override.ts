import { ConfigError } from '../errors.ts';
import type { RateLimitSpec } from '../providers/define-provider.ts';

/**
 * A destination's limits depend on the plan (ClickUp 100/min on Business, 1,000/min on Business Plus;
 * HubSpot 100, 190 or 250 per 10 s). `SLUICE_<ID>_RATE_LIMIT` replaces the default windows:
 * comma-separated `<count>/<window>`, the window being `s`, `min`, `h`, `day` or a number with one of
 * those (`190/10s,625000/day`).
 */
export function rateLimitEnvVar(id: string): string {
  return `SLUICE_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_RATE_LIMIT`;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, min: 60_000, h: 3_600_000, day: 86_400_000 };

export function parseRateLimits(value: string, name: string): RateLimitSpec[] {
  return value.split(',').map((part) => {
    const m = /^\s*(\d+)\s*\/\s*(\d*)\s*(ms|s|min|h|day)\s*$/.exec(part);
    if (!m || Number(m[1]) <= 0) {
      throw new ConfigError(
        `${name}=${JSON.stringify(value)}: "${part.trim()}" is not a limit; write e.g. 190/10s or 1000/min`,
        { exitCode: 2 },
      );
    }
    const windowMs = Number(m[2] || 1) * UNIT_MS[m[3]!]!;
    return { limit: Number(m[1]), windowMs, label: part.trim() };
  });
}

/** The limits in force: the env override when set, else the definition's defaults. */
export function effectiveLimits(
  id: string,
  defaults: RateLimitSpec[],
  env: Readonly<Record<string, string | undefined>>,
): RateLimitSpec[] {
  const name = rateLimitEnvVar(id);
  const v = env[name]?.trim();
  return v ? parseRateLimits(v, name) : defaults;
}
