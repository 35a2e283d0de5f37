import type { Db } from '../../src/db/db.ts';
import type { CallContext, GatewayState } from '../../src/gateway/call-context.ts';
import { systemClock } from '../../src/gateway/gateway-options.ts';
import { DbClock } from '../../src/limits/sliding-window.ts';
import type { ProviderDefinition } from '../../src/providers/define-provider.ts';

/**
 * A CallContext for testing one gateway stage alone: the provider's first operation, a gateway state
 * on `db` (server-Postgres-like unless `singleProcess`), everything else at its starting value.
 */
export function stageContext(
  db: Db,
  provider: ProviderDefinition,
  overrides: Partial<CallContext> = {},
  gwOverrides: Partial<GatewayState> = {},
): CallContext {
  const [operationId, op] = Object.entries(provider.operations)[0]!;
  const gw: GatewayState = {
    db,
    options: { db, providers: () => provider },
    clock: systemClock,
    env: {},
    owner: `test:${Math.random().toString(36).slice(2, 8)}`,
    singleProcess: db.backend === 'pglite',
    maxWaitMs: 5_000,
    failureThreshold: 5,
    cooldownMs: 60_000,
    quotaCooldownMs: 3_600_000,
    inflightTtlMs: 120_000,
    marginMs: 0,
    pauses: new Map(),
    warm: new Set(),
    dbClock: new DbClock(db, () => Date.now()),
    stats: { rebooked: 0 },
    lease: { enter() {}, leave() {}, renewals: 0 },
    inflight: new Map(),
    writesSinceEvict: { n: 0 },
    ...gwOverrides,
  };
  return {
    gw,
    req: { provider: provider.id, operation: operationId, input: { q: 'x' } },
    signal: undefined,
    started: Date.now(),
    target: { provider, operationId, op, name: `${provider.id}.${operationId}`, sem: undefined },
    account: { id: provider.id, windows: [], dailyCaps: [], healthKey: provider.id },
    input: { q: 'x' },
    key: `key-${Math.random().toString(36).slice(2, 8)}`,
    normalized: { q: 'x' },
    cacheLabel: 'miss',
    priceUsd: op.priceUsd,
    hold: { budgetScopes: [], reservedUsd: 0, slot: null, marker: false, attemptId: null, settled: false },
    attempt: 1,
    maxAttempts: 4,
    failedBefore: false,
    httpStatus: null,
    latencyMs: 0,
    requested: false,
    billedUsd: 0,
    coalesced: false,
    ...overrides,
  };
}
