import { ThrottledError } from '../../errors.ts';
import { type Booking, bookRate, claimRate, releaseRate, sentRate } from '../../limits/sliding-window.ts';
import { type WriteWatch, watchWrites } from '../../limits/written-at.ts';
import type { CallContext, GatewayState, Stage } from '../call-context.ts';
import { refuse } from '../record.ts';

/**
 * The account's rate limits for one attempt (src/limits/sliding-window.ts): books this call's place in
 * every window of its account at once, on the database clock, and sleeps until a little before it on
 * this process's clock (DbClock). Then it claims the place: from the calls already sent, the claim
 * gives the time it may leave and records it there (a place booked that close is claimed by the
 * booking itself; a claim that would leave more than a little after now is taken again then). The
 * call sleeps until then and goes; when its request reaches its socket (src/limits/written-at.ts)
 * later than claimed, its row is moved there at once, long before the calls a window later claim. So
 * every call is counted where it went, a first request on a new connection included, and the margin
 * only has to cover the way from the socket to the provider's counter. The calls of a burst share
 * timers, one claim statement and one move. A place farther than `maxWaitMs` books nothing and ends
 * the call with ThrottledError (the run is rescheduled); so does a claim that would wait longer.
 */
export const rateLimit: Stage = async (ctx, next) => {
  const { gw, account } = ctx;
  if (account.windows.length === 0) return next();
  const sent = await placed(ctx);
  const watch: WriteWatch = {
    now: () => gw.clock.now(),
    requested: false,
    writtenAt: undefined,
    answeredAt: undefined,
    newConnection: false,
    onWrite: (at) => written(ctx, sent, at),
  };
  try {
    await watchWrites(watch, next);
  } finally {
    answered(ctx, sent, watch);
  }
};

interface Sent {
  booking: Booking;
  /** When it was claimed to leave (local ms). */
  goMs: number;
  /** Where its rows are (local ms). */
  recordedMs: number;
}

/**
 * Lateness left to the margin: a row is only moved when its call may have been counted more than
 * this after it, and then to this much before that time (the margin covers this much and the way
 * from the socket to the provider's counter). Moving every row by all its jitter would push each
 * burst later by it, window after window.
 */
function unrecordedMs(gw: GatewayState): number {
  return gw.marginMs / 2;
}

/** The request reached its socket: a row written later than claimed is moved there. */
function written(ctx: CallContext, sent: Sent, at: number): void {
  const { gw, account } = ctx;
  const recorded = at - sent.goMs > unrecordedMs(gw) ? at - unrecordedMs(gw) : sent.goMs;
  if (recorded > sent.goMs) movedTo(gw, sent.booking, recorded + gw.dbClock.offsetNow);
  sent.recordedMs = recorded;
  gw.options.onLimitedSend?.({ account: account.id, input: ctx.input, bookedAtMs: recorded, sentAtMs: at });
}

/**
 * The answer is back: the provider counted the request between its write and now. How long after
 * the write is not known, but at most the answer's time less the quickest answer seen on a used
 * connection (what the way back and the provider's own work take at least): a provider slow to count
 * it (a busy server, a new connection accepted late) moves its row there, still long before the
 * calls a window later claim. A request on a new connection, before any such answer, or through a
 * fetch that says nothing about its writes, is moved to the answer's time.
 */
function answered(ctx: CallContext, sent: Sent, watch: WriteWatch): void {
  const { gw, account } = ctx;
  // When the answer came in (its headers), not when this stage sees it: reading the body and the
  // stages between take time that is no part of the way to the provider.
  const now = watch.answeredAt ?? gw.clock.now();
  if (watch.requested && watch.writtenAt === undefined) return; // never written: never counted
  if (!watch.requested) written(ctx, sent, now);
  const at = watch.writtenAt ?? now;
  const quickest = quickestAnswers(gw);
  const known = quickest.get(account.id) ?? Number.POSITIVE_INFINITY;
  let latest = now;
  if (watch.requested && !watch.newConnection && ctx.httpStatus !== null) {
    if (Number.isFinite(known)) latest = Math.max(at, now - known);
    quickest.set(account.id, Math.min(known, now - at));
  }
  if (latest - sent.recordedMs > unrecordedMs(gw)) {
    sent.recordedMs = latest - unrecordedMs(gw);
    movedTo(gw, sent.booking, sent.recordedMs + gw.dbClock.offsetNow);
  }
}

/** Quickest answer after its write on a used connection, by gateway and account, ms. */
const quickestByGateway = new WeakMap<object, Map<string, number>>();

function quickestAnswers(gw: GatewayState): Map<string, number> {
  let m = quickestByGateway.get(gw);
  if (!m) {
    m = new Map();
    quickestByGateway.set(gw, m);
  }
  return m;
}

/**
 * How long before its place a call claims it (a quarter of the shortest span at most). A claim
 * computes the time to leave from the calls already sent, and sees only the moves (`written`) that
 * landed before it: so it is taken shortly before the call leaves, never long before.
 */
const CLAIM_AHEAD_MS = 100;
/** Claims whose places fall in the same slot of this size are taken together. */
const CLAIM_GRID_MS = 10;

function claimAheadMs(ctx: CallContext): number {
  return Math.min(CLAIM_AHEAD_MS, ...ctx.account.windows.map((w) => w.spanMs / 4));
}

/** Books a place, sleeps until it and claims it; returns when the call may go (its booking), or throws. */
async function placed(ctx: CallContext): Promise<Sent> {
  const { gw, account } = ctx;
  const ahead = claimAheadMs(ctx);
  // A claim is taken at most this long before its call leaves (the grid, the statement's own time).
  const claimWithin = ahead + CLAIM_GRID_MS + 20;
  // A call that wakes this late may find calls a window later already claimed from its place.
  const tooLate = Math.min(...account.windows.map((w) => w.spanMs)) / 2;
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
      claimWithinMs: claimWithin,
    });
    gw.dbClock.observe(gw.clock.now() - t0);
    if (!place.granted || place.atMs === null) await tooLong(ctx, place.waitMs);
    try {
      let at = place.atMs!;
      if (!place.sent) {
        // Claimed a little before the place, so the claim's answer is back by then even when the
        // database is slow; calls whose places are close share one wake-up and one claim statement.
        let claimAt = Math.floor((at - offset - ahead) / CLAIM_GRID_MS) * CLAIM_GRID_MS;
        for (;;) {
          if (claimAt > gw.clock.now()) await wakeAt(ctx, claimAt, true);
          const claim = await claimed(ctx, place, claimWithin);
          if (claim.atMs !== null) {
            at = claim.atMs;
            break;
          }
          if (!claim.later) {
            gw.stats.rebooked++;
            await releaseRate(gw.db, place);
            await tooLong(ctx, claim.waitMs);
          }
          // Its time is farther than a claim may look ahead: claimed again a little before it.
          claimAt = Math.floor((gw.clock.now() + claim.waitMs - ahead) / CLAIM_GRID_MS) * CLAIM_GRID_MS;
        }
        gw.dbClock.observeClaim(at - place.atMs!);
      }
      // A throttle answered in this process while it slept (the database may not have it yet):
      // the place is given up and the call books again after the pause.
      if ((gw.pauses.get(account.healthKey) ?? 0) > gw.clock.now()) {
        await releaseRate(gw.db, place);
        continue;
      }
      const go = at - offset;
      if (go > gw.clock.now()) await wakeAt(ctx, go, false);
      const woke = gw.clock.now();
      if (woke - go > tooLate) {
        // A starved process: the calls placed from this one may have claimed; it books again.
        gw.stats.rebooked++;
        await releaseRate(gw.db, place);
        continue;
      }
      return { booking: place, goMs: go, recordedMs: go };
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

interface ClaimResult {
  /** When it may leave (database clock), or null. */
  atMs: number | null;
  waitMs: number;
  /** Not claimed because it would leave more than `aheadMs` from now: claim again then. */
  later: boolean;
}

interface Claimant {
  booking: Booking;
  first: number;
  done: (r: ClaimResult) => void;
  fail: (err: unknown) => void;
}

/** Calls of one process waiting to claim, by gateway and window set; one claim statement at a time. */
const claimQueues = new WeakMap<
  object,
  Map<string, { waiting: Claimant[]; running: boolean; aheadMs: number }>
>();

/**
 * Claims this call's place, together with every call of this process that woke for the same windows
 * meanwhile (a burst: one statement). `atMs` is when it may leave (database clock), or null when that
 * would be more than `maxWaitMs` away (`waitMs`), or more than `aheadMs` (`later`).
 */
function claimed(ctx: CallContext, booking: Booking, aheadMs: number): Promise<ClaimResult> {
  const { gw, account } = ctx;
  let byWindows = claimQueues.get(gw);
  if (!byWindows) {
    byWindows = new Map();
    claimQueues.set(gw, byWindows);
  }
  const key = account.windows.map((w) => w.key).join(' ');
  let queue = byWindows.get(key);
  if (!queue) {
    queue = { waiting: [], running: false, aheadMs };
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
  q: { waiting: Claimant[]; aheadMs: number },
): Promise<void> {
  while (q.waiting.length > 0) {
    const batch = q.waiting.splice(0).sort((a, b) => a.first - b.first);
    try {
      const claim = await claimRate(
        gw.db,
        windows,
        batch.map((c) => c.booking),
        gw.maxWaitMs,
        q.aheadMs,
      );
      // Calls after the first unclaimed one were not looked at: they come back with it.
      batch.forEach((c, i) => {
        c.done(
          i < claim.claimed
            ? { atMs: claim.atMs[i]!, waitMs: 0, later: false }
            : { atMs: null, waitMs: claim.waitMs, later: claim.later },
        );
      });
    } catch (err) {
      for (const c of batch) c.fail(err);
    }
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
      // Never before the place: a timer may fire a little early on the wall clock.
      while (gw.clock.now() < target) await gw.clock.sleep(Math.max(1, target - gw.clock.now()));
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
