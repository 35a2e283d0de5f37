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
    if (!ctx.hold.settled) await record(ctx, { terminal: true, health: 'none' }).catch(() => {});
    if (ctx.signal?.aborted) throw ctx.signal.reason;
    throw err;
  }
};
