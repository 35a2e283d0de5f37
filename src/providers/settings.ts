import { ConfigError } from '../errors.ts';
import type { OperationContext } from './define-provider.ts';

/**
 * A numeric provider setting from the environment (e.g. `SLUICE_HUNTER_USD_PER_CREDIT=0.03`), or the
 * documented default. Prices differ by plan, so the defaults are editable without touching code.
 */
export function numberSetting(ctx: Pick<OperationContext, 'env'>, name: string, fallback: number): number {
  const raw = ctx.env?.[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a non-negative number; fix or unset it`, {
      exitCode: 2,
    });
  }
  return value;
}

/** A string provider setting from the environment, or the default. */
export function stringSetting(ctx: Pick<OperationContext, 'env'>, name: string, fallback: string): string {
  const raw = ctx.env?.[name]?.trim();
  return raw ? raw : fallback;
}
