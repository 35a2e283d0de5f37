/**
 * When a failed delivery is tried again: Svix's schedule (immediately, then 5 s, 5 min, 30 min, 2 h,
 * 5 h, 10 h, 10 h: about 27.6 hours in all), each wait with ±10 % jitter so that deliveries failed
 * together do not all return together. After the last one the delivery is `failed` (replayable).
 */
export const RETRY_DELAYS_MS = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

/** Attempts a delivery gets in total (the first plus one per delay). */
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

/** Delay before attempt `attempt + 1` after attempt `attempt` (1-based) failed, or undefined: give up. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number | undefined {
  const base = RETRY_DELAYS_MS[attempt - 1];
  if (base === undefined) return undefined;
  return Math.round(base * (0.9 + 0.2 * random()));
}
