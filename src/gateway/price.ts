import type { Target } from './call-context.ts';

/**
 * What a call reserves in budgets before it is made: the most it can cost at the real prices (the
 * operation's `maxPriceUsd` with this input and the settings in `env`, else its declared price). Free
 * providers cost nothing. A price that cannot be computed (NaN, negative) reserves the declared one.
 */
export function reservationOf(
  target: Target,
  input: unknown,
  env: Readonly<Record<string, string | undefined>>,
): number {
  if (target.provider.free) return 0;
  const declared = target.op.priceUsd;
  if (!target.op.maxPriceUsd) return declared;
  const usd = target.op.maxPriceUsd(input, env);
  return Number.isFinite(usd) && usd >= 0 ? Math.round(usd * 1e6) / 1e6 : declared;
}
