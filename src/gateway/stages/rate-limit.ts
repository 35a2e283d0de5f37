import { ThrottledError } from '../../errors.ts';
import { type Booking, bookRate, claimRate, releaseRate, sentRate } from '../../limits/sliding-window.ts';
import type { CallContext, GatewayState, Stage } from '../call-context.ts';
import { refuse } from '../record.ts';

/**
 * The account's rate limits for one attempt (src/limits/sliding-window.ts): books this call's place in
 * every window of its account at once, on the database clock, and sleeps until a little before it on
 * this process's clock (DbClock). Then it claims the place: from the calls already sent, the claim
 * gives the time it may leave and records it there; the call sleeps until then, and if it leaves
 * later (a late timer), its row is moved to when it left, right away, long before the calls a window
 * later claim. So every call is counted where it went, and the margin only has to cover the way from
 * here to the provider's counter. The calls of a burst share timers, one claim statement and one
 * move. A place farther than `maxWaitMs` books nothing and ends the call with ThrottledError (the
 * run is rescheduled); so does a claim that would wait longer than that.
 */
export const rateLimit: Stage = async (ctx, next) => {
  const { gw, account } = ctx;
  if (account.windows.length === 0) return next();
  // A process's first call to an account opens a connection (TCP, TLS) and runs cold code, so it
  // may arrive much later than it was claimed: it goes alone (this process's other calls to the
  // account book meanwhile but claim only after its answer), and once answered it is moved to the
  // answer's time, the latest it can have been counted. The calls a window later claim after that,
  // so they see where it went.
  if (!gw.warm.has(account.id)) {
    gw.warm.add(account.id);
    return coldCall(ctx, next);
  }
  const sent = await placed(ctx);
  try {
    await next();
  } finally {
    answered(ctx, sent);
  }
};

/**
 * The provider counted the call before its answer left, so at the latest the quickest answer this
 * process has seen for the account before its answer came back (the answer time itself until a few
 * answers are known; now, without an answer). A call that arrived that much later than it was
 * recorded (a new connection, a slow path, a starved process) moves its row there (one statement
 * per burst), long before the calls a window later claim. Delays within half the margin are left
 * to the margin: moving every row by its jitter would push each burst later by it, window after
 * window.
 */
function answered(ctx: CallContext, sent: Sent): void {
  const { gw, account } = ctx;
  const now = gw.clock.now();
  const quickest = ctx.httpStatus === null ? 0 : quickestAnswer(gw, account.id, now - sent.atMs);
  const latest = now - Math.min(quickest, now - sent.atMs);
  if (latest - sent.recordedMs > gw.marginMs / 2) movedTo(gw, sent.booking, latest + gw.dbClock.offsetNow);
}

interface Sent {
  booking: Booking;
  /** When it was handed to the next stage (local ms). */
  atMs: number;
  /** Where its rows are (local ms). */
  recordedMs: number;
}

/** Answers seen and the quickest, per gateway and account, ms; it may creep up (a slower route). */
const quickest = new WeakMap<object, Map<string, { n: number; ms: number }>>();

/** Answers before the quickest is trusted: a first burst opens new connections, all slow alike. */
const QUICKEST_AFTER = 30;

function quickestAnswer(gw: GatewayState, accountId: string, rttMs: number): number {
  let byAccount = quickest.get(gw);
  if (!byAccount) {
    byAccount = new Map();
    quickest.set(gw, byAccount);
  }
  const seen = byAccount.get(accountId);
  if (!seen) {
    byAccount.set(accountId, { n: 1, ms: rttMs });
    return 0;
  }
  const known = seen.n >= QUICKEST_AFTER ? seen.ms : 0;
  seen.n++;
  seen.ms = Math.min(rttMs, seen.ms + 0.01 * (rttMs - seen.ms));
  return known;
}

/**
 * How long before its place a call claims it (a quarter of the shortest span at most). Any time is
 * right (a claim computes the time to leave from the calls sent); earlier keeps a slow claim from
 * delaying the call, but a claim sees only the moves (`answered`) that landed before it.
 */
const CLAIM_AHEAD_MS = 100;
/** Claims whose places fall in the same slot of this size are taken together. */
const CLAIM_GRID_MS = 10;

/** Books a place, sleeps until it and claims it; returns when the call may go (its booking), or throws. */
async function placed(ctx: CallContext, cold = false): Promise<Sent> {
  const { gw, account } = ctx;
  for (;;) {
    // Calls that passed the preflight before a throttle came back wait for the pause too.
    const paused = (gw.pauses.get(account.healthKey) ?? 0) - gw.clock.now();
    if (paused > gw.maxWaitMs) await tooLong(ctx, paused);
    if (paused > 0) await gw.clock.sleep(paused, ctx.signal);
    const offset = await gw.dbClock.offset();
    const t0 = gw.clock.now();
    const place = await bookRate(gw.db, account.windows, {
      maxWaitMs: gw.maxWaitMs,
      leadMs: gw.dbClock.leadMs,
      extraMs: gw.dbClock.claimLatenessMs,
    });
    gw.dbClock.observe(gw.clock.now() - t0);
    if (!place.granted || place.atMs === null) await tooLong(ctx, place.waitMs);
    try {
      // Claimed a little before the place, so the claim's answer is back by then even when the
      // database is slow; calls whose places are close share one wake-up and one claim statement.
      const ahead = Math.min(CLAIM_AHEAD_MS, ...account.windows.map((w) => w.spanMs / 4));
      const claimAt = Math.floor((place.atMs! - offset - ahead) / CLAIM_GRID_MS) * CLAIM_GRID_MS;
      if (claimAt > gw.clock.now()) await wakeAt(ctx, claimAt, true);
      // Behind a first call still in flight (see rateLimit).
      if (!cold) await warmUps.get(gw)?.get(account.id);
      // A throttle answered in this process while it slept (the database may not have it yet):
      // the place is given up and the call books again after the pause.
      if ((gw.pauses.get(account.healthKey) ?? 0) > gw.clock.now()) {
        await releaseRate(gw.db, place);
        continue;
      }
      const claim = await claimed(ctx, place);
      if (claim.atMs === null) {
        gw.stats.rebooked++;
        await releaseRate(gw.db, place);
        await tooLong(ctx, claim.waitMs);
      }
      const go = claim.atMs! - offset;
      if (go > gw.clock.now()) await wakeAt(ctx, go, false);
      const sent = gw.clock.now();
      // Left much later than claimed (a late timer): the row goes where the call went, at once
      // (one statement per burst). Within half the margin, the margin covers it (see `answered`).
      const recorded = sent - go > gw.marginMs / 2 ? sent : go;
      if (recorded > go) movedTo(gw, place, sent + offset);
      gw.dbClock.observeClaim(recorded + offset - place.atMs!);
      gw.options.onLimitedSend?.({
        account: account.id,
        input: ctx.input,
        bookedAtMs: recorded,
        sentAtMs: sent,
      });
      return { booking: place, atMs: sent, recordedMs: recorded };
    } catch (err) {
      // A cancelled call or a failed statement: the place counts against nobody.
      if (!(err instanceof ThrottledError)) await releaseRate(gw.db, place).catch(() => {});
      throw err;
    }
  }
}

/** Rows to move to when their calls left, by gateway: written together, right after the burst. */
const pendingMoves = new WeakMap<object, { booking: Booking; atMs: number }[]>();

function movedTo(gw: GatewayState, booking: Booking, atMs: number): void {
  let moves = pendingMoves.get(gw);
  if (moves) {
    moves.push({ booking, atMs });
    return;
  }
  moves = [{ booking, atMs }];
  pendingMoves.set(gw, moves);
  // After this turn of the event loop, when the burst's requests have been handed to the sockets.
  setImmediate(() => {
    const batch = pendingMoves.get(gw) ?? [];
    pendingMoves.delete(gw);
    sentRate(gw.db, batch).catch((err: unknown) =>
      gw.options.logger?.warn({ err }, 'rate limit: recording when calls left failed'),
    );
  });
}

interface Claimant {
  booking: Booking;
  first: number;
  done: (r: { atMs: number | null; waitMs: number }) => void;
  fail: (err: unknown) => void;
}

/** Calls of one process waiting to claim, by gateway and window set; one claim statement at a time. */
const claimQueues = new WeakMap<object, Map<string, { waiting: Claimant[]; running: boolean }>>();

/**
 * Claims this call's place, together with every call of this process that woke for the same windows
 * meanwhile (a burst: one statement). `atMs` is when it may leave (database clock), or null when that
 * would be more than `maxWaitMs` away (`waitMs`).
 */
function claimed(ctx: CallContext, booking: Booking): Promise<{ atMs: number | null; waitMs: number }> {
  const { gw, account } = ctx;
  let byWindows = claimQueues.get(gw);
  if (!byWindows) {
    byWindows = new Map();
    claimQueues.set(gw, byWindows);
  }
  const key = account.windows.map((w) => w.key).join(' ');
  let queue = byWindows.get(key);
  if (!queue) {
    queue = { waiting: [], running: false };
    byWindows.set(key, queue);
  }
  const q = queue;
  return new Promise((done, fail) => {
    q.waiting.push({ booking, first: Math.min(...booking.ids.map(Number)), done, fail });
    if (!q.running) {
      q.running = true;
      void drain(gw, account.windows, q).finally(() => {
        q.running = false;
      });
    }
  });
}

async function drain(
  gw: GatewayState,
  windows: CallContext['account']['windows'],
  q: { waiting: Claimant[] },
): Promise<void> {
  while (q.waiting.length > 0) {
    const batch = q.waiting.splice(0).sort((a, b) => a.first - b.first);
    try {
      const claim = await claimRate(
        gw.db,
        windows,
        batch.map((c) => c.booking),
        gw.maxWaitMs,
      );
      batch.forEach((c, i) => {
        c.done({ atMs: i < claim.claimed ? claim.atMs[i]! : null, waitMs: claim.waitMs });
      });
    } catch (err) {
      for (const c of batch) c.fail(err);
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
    const { booking } = await placed(ctx, true);
    try {
      await next();
    } finally {
      // Moved to when its answer came back (database clock).
      const at = gw.clock.now() + (await gw.dbClock.offset());
      await sentRate(gw.db, [{ booking, atMs: at }]).catch((err: unknown) =>
        gw.options.logger?.warn({ err }, 'rate limit: moving a first call failed'),
      );
    }
  } finally {
    // After the stages outside this one have taken the answer in (a throttle's pause is set there).
    setImmediate(() => {
      byAccount.delete(account.id);
      done();
    });
  }
}

/** Wake-ups by account and place (local ms), shared by the calls booked there. */
const wakeUps = new WeakMap<object, Map<string, Promise<number>>>();

function wakeAt(ctx: CallContext, target: number, learn: boolean): Promise<number> {
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
      if (learn && target - gw.clock.now() > 100) {
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
