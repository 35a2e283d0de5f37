import { ThrottledError } from '../../errors.ts';
import { bookRate, releaseRate } from '../../limits/sliding-window.ts';
import type { CallContext, Stage } from '../call-context.ts';
import { refuse } from '../record.ts';

/** Places given up in a row (the process keeps waking late) before the call is rescheduled instead. */
const MAX_REBOOKS = 5;

/**
 * The account's rate limits for one attempt (src/limits/sliding-window.ts): books this call's place in
 * every window of its account at once, on the database clock, and sleeps until it on this process's
 * clock (DbClock). Each place is recorded as late as this process's calls have lately been leaving
 * (`DbClock.latenessMs`); a call that would leave later than that plus half the margin (a late timer,
 * a starved CPU) gives its place up (deleted: it counts against nobody) and books again, so a call
 * is never counted earlier than it left by more than margin/2, and the other half absorbs the way to
 * the provider's counter. A place farther than `maxWaitMs` books nothing and ends the call with
 * ThrottledError (the run is rescheduled).
 */
export const rateLimit: Stage = async (ctx, next) => {
  const { gw, account } = ctx;
  if (account.windows.length === 0) return next();
  // A process's first call to an account opens a connection (TCP, TLS) and runs cold code, so it
  // may arrive much later than it left: it goes alone (this process's other calls to the account
  // wait for its answer), recorded `coldStartMs` late, and once answered its place is moved to the
  // answer's time, the latest it can have been counted.
  await warmUps.get(gw)?.get(account.id);
  if (!gw.warm.has(account.id)) {
    gw.warm.add(account.id);
    return coldCall(ctx, next);
  }
  await placed(ctx, 0);
  return next();
};

/** Books a place and sleeps until it; returns when the call may go (its booking), or throws. */
async function placed(ctx: CallContext, coldMs: number): Promise<{ ids: string[] }> {
  const { gw, account } = ctx;
  const tolerance = gw.marginMs / 2;
  for (let tries = 0; ; tries++) {
    // Calls that passed the preflight before a throttle came back wait for the pause too.
    const paused = (gw.pauses.get(account.healthKey) ?? 0) - gw.clock.now();
    if (paused > gw.maxWaitMs) await tooLong(ctx, paused);
    if (paused > 0) await gw.clock.sleep(paused, ctx.signal);
    const offset = await gw.dbClock.offset();
    const t0 = gw.clock.now();
    const allowance = gw.dbClock.latenessMs;
    const place = await bookRate(gw.db, account.windows, {
      maxWaitMs: gw.maxWaitMs,
      leadMs: gw.dbClock.leadMs,
      extraMs: allowance + coldMs,
    });
    gw.dbClock.observe(gw.clock.now() - t0);
    if (!place.granted || place.atMs === null) await tooLong(ctx, place.waitMs);
    const target = place.atMs! - offset;
    // Calls booked at the same place (a burst) share one timer (and one look at the pause). Each is
    // judged on when it really goes: the event loop sends a burst one call after another.
    if (target > gw.clock.now()) await wakeAt(ctx, target);
    const now = gw.clock.now();
    gw.dbClock.observeLateness(now - target);
    const pausedMeanwhile = (gw.pauses.get(account.healthKey) ?? 0) > now;
    if (!pausedMeanwhile && now - target <= allowance + coldMs + tolerance) {
      gw.options.onLimitedSend?.({
        account: account.id,
        input: ctx.input,
        bookedAtMs: target,
        sentAtMs: now,
      });
      return place;
    }
    await releaseRate(gw.db, place);
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
}

/** First calls in flight, by gateway and account: the others wait for their answer. */
const warmUps = new WeakMap<object, Map<string, Promise<void>>>();

async function coldCall(ctx: CallContext, next: () => Promise<void>): Promise<void> {
  const { gw, account } = ctx;
  let byAccount = warmUps.get(gw);
  if (!byAccount) {
    byAccount = new Map();
    warmUps.set(gw, byAccount);
  }
  let done: () => void = () => {};
  byAccount.set(
    account.id,
    new Promise<void>((resolve) => {
      done = resolve;
    }),
  );
  try {
    const booking = await placed(ctx, gw.coldStartMs);
    try {
      await next();
    } finally {
      await settleCold(ctx, booking);
    }
  } finally {
    byAccount.delete(account.id);
    done();
  }
}

/** Moves the first call's place to when its answer came back (database clock). */
async function settleCold(ctx: CallContext, booking: { ids: string[] }): Promise<void> {
  const { gw } = ctx;
  const at = gw.clock.now() + (await gw.dbClock.offset());
  await gw.db
    .query('UPDATE rate_log SET at_ms = greatest(at_ms, $2) WHERE id = ANY($1::bigint[])', [booking.ids, at])
    .catch((err: unknown) => gw.options.logger?.warn({ err }, 'rate limit: moving a first call failed'));
}

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
