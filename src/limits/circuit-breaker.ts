import type { Queryable } from '../db/db.ts';

/**
 * Circuit breaker per provider, shared by every process through `provider_state`. Failures are
 * counted by the statement that records each attempt (src/ledger/record-attempt.ts): after
 * `failureThreshold` consecutive failures the circuit opens for `cooldownMs`, and calls are deferred
 * (InfrastructureError with retryAt) instead of failing runs. After the cool-down one caller wins the
 * probe below (half-open); its success closes the circuit, its failure opens it again.
 */
export interface CircuitOptions {
  /** Consecutive failed attempts (5xx, network, timeouts) that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long the circuit stays open. Default 60 000 ms. */
  cooldownMs?: number;
}

export type CircuitState = 'closed' | 'open' | 'half-open';

export function circuitState(openUntilMs: number | null, nowMs: number): CircuitState {
  if (openUntilMs === null) return 'closed';
  return openUntilMs > nowMs ? 'open' : 'half-open';
}

/**
 * Half-open: the caller that moves `open_until` forward is the one probe; everyone else keeps seeing
 * an open circuit until the probe's outcome is recorded. Returns true for the winner.
 */
export async function claimProbe(db: Queryable, provider: string, cooldownMs: number): Promise<boolean> {
  const r = await db.query(
    `UPDATE provider_state SET open_until = now() + $2::float8 * interval '1 millisecond', updated_at = now()
     WHERE provider = $1 AND open_until <= now() RETURNING 1`,
    [provider, cooldownMs],
  );
  return r.rows.length > 0;
}

/** Closes the circuit and clears pause/exhaustion of a provider (manual reset, tests). */
export async function resetProviderState(db: Queryable, provider: string): Promise<void> {
  await db.query('DELETE FROM provider_state WHERE provider = $1', [provider]);
}
