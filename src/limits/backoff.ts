/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"):
 * sleep a random time in [0, min(cap, base * 2^(attempt-1))]. Full jitter spreads retries of many
 * workers so they do not hit a recovering provider in lockstep.
 */
export interface BackoffOptions {
  /** First retry's upper bound. Default 250 ms. */
  baseMs?: number;
  /** Upper bound of any delay. Default 5 000 ms. */
  capMs?: number;
}

export function backoffDelay(attempt: number, options: BackoffOptions = {}, random = Math.random): number {
  const base = options.baseMs ?? 250;
  const cap = options.capMs ?? 5_000;
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}
