import { ThrottledError } from '../../errors.ts';
import { bookRate } from '../../limits/sliding-window.ts';
import type { CallContext, Stage } from '../call-context.ts';
import { refuse } from '../record.ts';

/** Places given up in a row (the process keeps waking late) before the call is rescheduled instead. */
const MAX_REBOOKS = 5;

/**
 * The account's rate limits for one attempt (src/limits/sliding-window.ts): books this call's place in
 * every window of its account at once, on the database clock, and sleeps until it on this process's
 * clock (src/limits/sliding-window.ts DbClock). A place this process wakes up for more than half the
 * margin late (a late timer, a starved CPU) is given up, still counted, and booked again, so a call
 * only leaves within half the margin of its place: the other half absorbs the provider's side.
 * A place farther than `maxWaitMs` books nothing and ends the call with ThrottledError (the run is
 * rescheduled).
 */
export const rateLimit: Stage = async (ctx, next) => {
  const { gw, account } = ctx;
  if (account.windows.length === 0) return next();
  const tolerance = gw.marginMs / 2;
  for (let tries = 0; ; tries++) {
    // Calls that passed the preflight before a throttle came back wait for the pause too.
    const paused = (gw.pauses.get(account.healthKey) ?? 0) - gw.clock.now();
    if (paused > gw.maxWaitMs) await tooLong(ctx, paused);
    if (paused > 0) await gw.clock.sleep(paused, ctx.signal);
    // A process's first call to an account opens a connection (TCP, TLS) and runs cold code, so it
    // may arrive later than booked: its send is recorded `coldStartMs` later than its place.
    const cold = !gw.warm.has(account.id);
    if (cold) gw.warm.add(account.id);
    const offset = await gw.dbClock.offset();
    const t0 = gw.clock.now();
    const place = await bookRate(gw.db, account.windows, {
      maxWaitMs: gw.maxWaitMs,
      leadMs: gw.dbClock.leadMs,
      extraMs: cold ? gw.coldStartMs : 0,
    });
    gw.dbClock.observe(gw.clock.now() - t0);
    if (!place.granted || place.atMs === null) await tooLong(ctx, place.waitMs);
    const target = place.atMs! - offset;
    // Calls booked at the same place (a burst) share one timer (and one look at the pause). Each is
    // judged on when it really goes: the event loop sends a burst one call after another, and a call
    // leaving late could arrive too close to its successor one window later.
    if (target > gw.clock.now()) await wakeAt(ctx, target);
    const now = gw.clock.now();
    const pausedMeanwhile = (gw.pauses.get(account.healthKey) ?? 0) > now;
    if (!pausedMeanwhile && now - target <= tolerance) {
      gw.options.onLimitedSend?.({
        account: account.id,
        input: ctx.input,
        bookedAtMs: target,
        sentAtMs: now,
      });
      return next();
    }
    if (!pausedMeanwhile) gw.stats.rebooked++;
    if (tries + 1 >= MAX_REBOOKS) {
      await refuse(
        ctx,
        new ThrottledError(
          `${ctx.target.name}: this process woke up too late for its rate-limit place ${MAX_REBOOKS} times (the machine is overloaded); the run is rescheduled`,
          { retryAfterMs: 1_000 },
        ),
      );
    }
  }
};

/** Wake-ups by account and place (local ms), shared by the calls booked there. */
const wakeUps = new WeakMap<object, Map<string, Promise<number>>>();

function wakeAt(ctx: CallContext, target: number): Promise<number> {
  const { gw } = ctx;
  let byPlace = wakeUps.get(gw);
  if (!byPlace) {
    byPlace = new Map();
    wakeUps.set(gw, byPlace);
  }
  const place = `${ctx.account.id}@${target}`;
  let wake = byPlace.get(place);
  if (!wake) {
    wake = (async () => {
      // Another process may have been throttled meanwhile: one small read, a little before the place.
      if (target - gw.clock.now() > 100) {
        await gw.clock.sleep(target - gw.clock.now() - 30);
        await learnPause(ctx).catch(() => {});
      }
      await gw.clock.sleep(Math.max(0, target - gw.clock.now()));
      byPlace.delete(place);
      return gw.clock.now();
    })();
    byPlace.set(place, wake);
  }
  // A cancelled call stops waiting; the shared wake-up goes on for the others.
  const signal = ctx.signal;
  if (!signal) return wake;
  return new Promise<number>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    wake.then((t) => {
      signal.removeEventListener('abort', onAbort);
      resolve(t);
    }, reject);
  });
}

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
