import { retryWhileDatabaseDown } from '../db/db-retry.ts';
import type { SluiceError } from '../errors.ts';
import { type AttemptRecord, type AttemptRecorded, recordAttempt } from '../ledger/record-attempt.ts';
import type { CallContext } from './call-context.ts';

/**
 * Writes one attempt record of this call (src/ledger/record-attempt.ts) with what the call holds, and
 * keeps `ctx.hold` true: a terminal record gives back the marker, the reservation and the slot.
 *
 * `waitOutOutage`: the record of a request that was made (the provider may have answered and billed).
 * While the database is unreachable (a restart, terminated connections) it is written again with
 * backoff, up to `databaseWaitMs` (default 60 s), instead of throwing the answer away: the call's
 * marker and attempt row stay leased meanwhile, so nobody pays for it again. A terminal record is
 * fenced by its attempt row, so a retry after an ambiguous failure records the call once.
 */
export type RecordParts = Omit<
  AttemptRecord,
  | 'provider'
  | 'operation'
  | 'runId'
  | 'batchId'
  | 'cacheKey'
  | 'owner'
  | 'marker'
  | 'budgetScopes'
  | 'reservedUsd'
  | 'slot'
  | 'attemptId'
  | 'failureThreshold'
  | 'cooldownMs'
  | 'healthKey'
>;

export async function record(
  ctx: CallContext,
  parts: RecordParts,
  options: { waitOutOutage?: boolean } = {},
): Promise<AttemptRecorded> {
  const { gw, hold } = ctx;
  const write = () => recordAttempt(gw.db, attemptRecord(ctx, parts));
  const done = options.waitOutOutage
    ? await retryWhileDatabaseDown(write, {
        maxMs: gw.options.databaseWaitMs ?? 60_000,
        onWait: (err) =>
          gw.options.logger?.warn(
            { err, provider: ctx.target.provider.id },
            `${ctx.target.name}: the database is unreachable; recording the answer again shortly`,
          ),
      })
    : await write();
  // The slot went back with this record; never release it twice (it may be someone else's by then).
  hold.slot = null;
  if (parts.terminal) {
    hold.settled = true;
    hold.attemptId = null;
  }
  return done;
}

function attemptRecord(ctx: CallContext, parts: RecordParts): AttemptRecord {
  const { gw, hold } = ctx;
  return {
    provider: ctx.target.provider.id,
    operation: ctx.target.operationId,
    runId: ctx.req.runId ?? null,
    batchId: ctx.req.batchId ?? null,
    cacheKey: ctx.key,
    owner: gw.owner,
    marker: hold.marker,
    budgetScopes: hold.budgetScopes,
    reservedUsd: hold.reservedUsd,
    slot: hold.slot,
    attemptId: hold.attemptId,
    failureThreshold: gw.failureThreshold,
    cooldownMs: gw.cooldownMs,
    healthKey: ctx.account.healthKey,
    ...parts,
  };
}

/** Ends the call without a request: ledger row `refused`, everything held released, `err` thrown. */
export async function refuse(ctx: CallContext, err: SluiceError): Promise<never> {
  await record(ctx, {
    ledger: {
      attempt: 0,
      cache: ctx.cacheLabel,
      status: 'refused',
      httpStatus: null,
      costUsd: 0,
      latencyMs: 0,
      errorClass: err.errorClass,
      error: err.message,
    },
    terminal: true,
    health: 'none',
  });
  throw err;
}

/** A ledger row of a failed attempt. */
export function ledgerError(
  ctx: CallContext,
  costUsd: number,
  latencyMs: number,
  err: SluiceError,
): NonNullable<AttemptRecord['ledger']> {
  return {
    attempt: ctx.attempt,
    cache: ctx.cacheLabel,
    status: 'error',
    httpStatus: ctx.httpStatus,
    costUsd,
    latencyMs,
    errorClass: err.errorClass,
    error: err.message.slice(0, 1_000),
  };
}
