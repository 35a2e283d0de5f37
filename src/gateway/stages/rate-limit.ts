import { ThrottledError } from '../../errors.ts';
import { acquireRate } from '../../limits/gcra.ts';
import type { CallContext, Stage } from '../call-context.ts';
import { refuse } from '../record.ts';

/**
 * The account's rate limits for one attempt (src/limits/): books this call's place in every window
 * and sleeps until it. A place missed by more than half the margin (a late timer, a starved CPU) is
 * given up and booked again, so calls only go out close to their booked time. A wait longer than
 * `maxWaitMs` books nothing and ends the call with ThrottledError (the run is rescheduled).
 */
export const rateLimit: Stage = async (ctx, next) => {
  const { gw, account } = ctx;
  if (account.windows.length === 0) return next();
  for (let tries = 0; ; tries++) {
    // Calls that passed the preflight before a throttle came back wait for the pause too.
    const paused = (gw.pauses.get(account.healthKey) ?? 0) - gw.clock.now();
    if (paused > gw.maxWaitMs) await tooLong(ctx, paused);
    if (paused > 0) await gw.clock.sleep(paused, ctx.signal);
    // A process's first call to an account opens a connection (TCP, TLS) and runs cold code, so it
    // can leave much later than booked; the next call is booked a little further out.
    const cold = !gw.warm.has(account.id);
    if (cold) gw.warm.add(account.id);
    const rate = await acquireRate(gw.db, account.windows, gw.maxWaitMs, cold ? gw.coldStartMs : 0);
    if (!rate.granted) await tooLong(ctx, rate.waitMs);
    const target = gw.clock.now() + rate.waitMs;
    if (rate.waitMs > 0) await gw.clock.sleep(rate.waitMs, ctx.signal);
    // Another caller may have been throttled while this call slept: one small read.
    await learnPause(ctx);
    const pausedMeanwhile = (gw.pauses.get(account.healthKey) ?? 0) > gw.clock.now();
    if (!pausedMeanwhile && (gw.clock.now() - target <= gw.marginMs / 2 || tries >= 5)) return next();
    gw.stats.rebooked++;
  }
};

function tooLong(ctx: CallContext, waitMs: number): Promise<never> {
  return refuse(
    ctx,
    new ThrottledError(
      `${ctx.target.name}: the next call is ${Math.ceil(waitMs / 1000)} s away (rate limit, or the provider asked to slow down); the run is rescheduled`,
      { retryAfterMs: waitMs },
    ),
  );
}

/** Copies a pause another process recorded in provider_state into this process's `pauses`. */
async function learnPause(ctx: CallContext): Promise<void> {
  const { gw } = ctx;
  const id = ctx.account.healthKey;
  const res = await gw.db.query<{ ms: number | null }>(
    `SELECT extract(epoch FROM paused_until - clock_timestamp())::float8 * 1000 AS ms
     FROM provider_state WHERE provider = $1 AND paused_until > clock_timestamp()`,
    [id],
  );
  const ms = res.rows[0]?.ms;
  if (ms) gw.pauses.set(id, Math.max(gw.pauses.get(id) ?? 0, gw.clock.now() + ms));
}
