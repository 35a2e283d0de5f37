import { isDatabaseUnavailable } from '../../errors.ts';
import type { Stage } from '../call-context.ts';
import { record } from '../record.ts';

/**
 * Whatever ends the call before a terminal record was written (a database error, an abort, a bug):
 * the marker, the budget reservation and the slot are released in one statement, so identical calls
 * and the batch are not held up by a call that is no longer being made.
 */
export const releaseOnFailure: Stage = async (ctx, next) => {
  try {
    await next();
  } catch (err) {
    // The request was made but its outcome could not be recorded (the database stayed away longer
    // than the gateway waited): the provider may have billed it, so the paid call's attempt row stays
    // for the reaper (price counted as spent, src/ledger/reaper.ts); its marker lapses on its own.
    const unrecorded = ctx.requested && ctx.hold.attemptId !== null && isDatabaseUnavailable(err);
    if (!ctx.hold.settled && !unrecorded)
      await record(ctx, { terminal: true, health: 'none' }).catch(() => {});
    if (ctx.signal?.aborted) throw ctx.signal.reason;
    throw err;
  }
};
