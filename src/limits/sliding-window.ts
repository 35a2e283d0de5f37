import type { Queryable } from '../db/db.ts';
import { prepared } from '../db/prepared.ts';
import type { RateLimitSpec } from '../providers/define-provider.ts';

/**
 * Rate limits as providers count them: "at most N calls in any W" (a sliding window). Each window of
 * an account keeps, in Postgres, the places of its recent calls (`rate_log`). A call is first BOOKED
 * in every window of its account at once (`sluice_book_rate`, migrations/0020, 0046): a place at the
 * earliest time that is at least W + margin after the N-th latest place of each window, so a batch
 * bursts up to N at once and waits only when a window is full, across every process sharing the
 * database. A little before that place it CLAIMS it (`sluice_claim_rate`, migrations/0037, 0046):
 * from the calls already sent (and the places booked before it), on the database clock, the time it
 * may leave, recorded as sent; a claim that would leave more than a little after now is not taken
 * (the call comes back then), so a claim never relies on calls still on their way. A booking whose
 * place is that close is claimed at once. A provider counts arrivals: a call whose request reaches
 * its socket later than claimed has its rows moved there (`sentRate`, src/limits/written-at.ts), long
 * before the calls a window later claim, so they are placed from where it really went
 * (docs/gateway.md "Rate limits").
 */
export interface LimitWindow {
  /** `<account>:<W>ms`, or `<account>.<operation>:<W>ms` for an operation's own window. */
  key: string;
  /** N: calls allowed in any window. */
  limit: number;
  windowMs: number;
  /** W + margin: how long after the N-th latest send the next one may go. */
  spanMs: number;
  label: string;
}

/**
 * Windows of one call: its account's and its operation's own. Two windows of the same length in one
 * scope keep the smaller limit. `marginMs` is added to every window: calls booked exactly W apart can
 * arrive closer than that (a late timer, network jitter), and a provider counting strictly would
 * throttle; bench `two-window` measures how much is needed.
 */
export function limitWindows(
  accountId: string,
  operationId: string,
  accountLimits: readonly RateLimitSpec[],
  operationLimits: readonly RateLimitSpec[] | undefined,
  marginMs: number,
): LimitWindow[] {
  const byKey = new Map<string, LimitWindow>();
  const add = (scope: string, l: RateLimitSpec) => {
    if (!(l.limit >= 1) || !(l.windowMs > 0) || !Number.isFinite(l.limit)) return;
    const key = `${scope}:${l.windowMs}ms`;
    const limit = Math.floor(l.limit);
    const known = byKey.get(key);
    if (known && known.limit <= limit) return;
    byKey.set(key, {
      key,
      limit,
      windowMs: l.windowMs,
      spanMs: l.windowMs + marginMs,
      label: l.label ?? `${limit}/${l.windowMs}ms`,
    });
  };
  for (const l of accountLimits) add(accountId, l);
  for (const l of operationLimits ?? []) add(`${accountId}.${operationId}`, l);
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
}

export interface Booking {
  /** A place was booked (false: the earliest place was more than `maxWaitMs` away; nothing booked). */
  granted: boolean;
  /** From the database's now to the place. */
  waitMs: number;
  /** The place, epoch ms of the database clock (null when not granted). */
  atMs: number | null;
  /** The database clock when the place was computed. */
  nowMs: number;
  /** The place's rows (one per window), for `releaseRate`. */
  ids: string[];
  /** Claimed at once (the place was within `claimWithinMs`): the call may leave at `atMs`. */
  sent: boolean;
}

export interface BookOptions {
  /** Longest wait accepted; a farther place books nothing. */
  maxWaitMs: number;
  /** Never book closer to now than this (time for the answer to reach the caller). Default 0. */
  leadMs?: number;
  /** Record the place this much later than given (the call may leave, or arrive, that late). Default 0. */
  extraMs?: number;
  /** A place at most this far from now is claimed at once (`sent`, no `extraMs`). Default never. */
  claimWithinMs?: number;
}

const BOOK = prepared(
  'SELECT wait_ms, at_ms, now_ms, ids::text[] AS ids, sent FROM sluice_book_rate($1::text[], $2::int[], $3::float8[], $4, $5, $6, $7)',
);

/** Books one call in every window at once (one statement). */
export async function bookRate(
  db: Queryable,
  windows: readonly LimitWindow[],
  options: BookOptions,
): Promise<Booking> {
  if (windows.length === 0)
    return { granted: true, waitMs: 0, atMs: null, nowMs: Number.NaN, ids: [], sent: true };
  const res = await db.query<{
    wait_ms: number;
    at_ms: number | null;
    now_ms: number;
    ids: string[] | null;
    sent: boolean;
  }>(BOOK, [
    windows.map((w) => w.key),
    windows.map((w) => w.limit),
    windows.map((w) => w.spanMs),
    options.leadMs ?? 0,
    options.maxWaitMs,
    options.extraMs ?? 0,
    options.claimWithinMs ?? -1,
  ]);
  const row = res.rows[0]!;
  return {
    granted: row.at_ms !== null,
    waitMs: Math.max(0, row.wait_ms),
    atMs: row.at_ms,
    nowMs: row.now_ms,
    ids: row.ids ?? [],
    sent: row.sent,
  };
}

/**
 * Gives a place up that was never used (its call woke too late to go): its rows are deleted, so it
 * counts against nobody. Places booked after it stay where they are (they only waited more).
 */
export async function releaseRate(db: Queryable, booking: Pick<Booking, 'ids'>): Promise<void> {
  if (booking.ids.length === 0) return;
  await db.query('DELETE FROM rate_log WHERE id = ANY($1::bigint[])', [booking.ids]);
}

export interface Claim {
  /** How many of the calls given (in order) were claimed: `atMs[i]` is when call i may leave. */
  claimed: number;
  /** Database clock, one per claimed call: when it may leave (not before the claim). */
  atMs: number[];
  /** When fewer than all were claimed: the next one would have waited this long. */
  waitMs: number;
  /**
   * When fewer than all were claimed: the next one would leave more than `aheadMs` from now (but
   * within `maxWaitMs`); its rows were moved there, still booked, and it claims again then.
   */
  later: boolean;
  /** The database clock when the claim was taken. */
  nowMs: number;
}

const CLAIM = prepared(
  'SELECT claimed, at_ms, wait_ms, now_ms, later FROM sluice_claim_rate($1::bigint[], $2::text[], $3::int[], $4::float8[], $5, $6)',
);

/**
 * Claims booked places whose calls are about to leave (one statement for a burst): in the order given
 * (the order they were booked), each gets the time it may leave, computed from the calls already sent,
 * and is recorded as sent then; a call that would wait more than `maxWaitMs` stops the claim (it and
 * the ones after it are not claimed); so does a call that would leave more than `aheadMs` from now
 * (`later`: claim it again then, when the calls it is placed from have gone). Every booking must be
 * of `windows`.
 */
export async function claimRate(
  db: Queryable,
  windows: readonly LimitWindow[],
  bookings: readonly Pick<Booking, 'ids'>[],
  maxWaitMs: number,
  aheadMs: number = maxWaitMs,
): Promise<Claim> {
  const res = await db.query<{
    claimed: number;
    at_ms: number[] | null;
    wait_ms: number;
    now_ms: number;
    later: boolean;
  }>(CLAIM, [
    bookings.flatMap((b) => b.ids),
    windows.map((w) => w.key),
    windows.map((w) => w.limit),
    windows.map((w) => w.spanMs),
    maxWaitMs,
    aheadMs,
  ]);
  const row = res.rows[0]!;
  return {
    claimed: row.claimed,
    atMs: row.at_ms ?? [],
    waitMs: Math.max(0, row.wait_ms),
    nowMs: row.now_ms,
    later: row.later,
  };
}

const SENT = prepared('SELECT sluice_sent_rate($1::bigint[], $2::float8[])');

/**
 * Moves sent calls later (never earlier), to when they really left or arrived (database clock):
 * `moves` pairs a booking with its time. One statement for all.
 */
export async function sentRate(
  db: Queryable,
  moves: readonly { booking: Pick<Booking, 'ids'>; atMs: number }[],
): Promise<void> {
  const ids = moves.flatMap((m) => m.booking.ids);
  if (ids.length === 0) return;
  await db.query(SENT, [ids, moves.flatMap((m) => m.booking.ids.map(() => m.atMs))]);
}

/** The simple form (CRM destinations): granted with the time to sleep, or refused with the wait. */
export async function acquireRate(
  db: Queryable,
  windows: readonly LimitWindow[],
  maxWaitMs: number,
  extraMs = 0,
): Promise<{ granted: boolean; waitMs: number }> {
  const b = await bookRate(db, windows, { maxWaitMs, extraMs });
  return { granted: b.granted, waitMs: b.waitMs };
}

/** Calls per second the windows allow in the long run (the binding window), or Infinity. */
export function maxRatePerSecond(windows: readonly LimitWindow[]): number {
  const rates = windows.map((w) => (w.limit * 1000) / w.spanMs);
  return rates.length > 0 ? Math.min(...rates) : Number.POSITIVE_INFINITY;
}

/**
 * The database clock as seen from this process. `offset()` is db − local, so a place booked on the
 * database clock is slept until on the local one without the answer's own latency (commit, network,
 * a busy event loop) delaying the send; it is estimated from the fastest of a few round trips (NTP's
 * rule: the error is at most half that round trip), again after `maxAgeMs`. `leadMs` is how far
 * ahead of now a booking should be, so its answer is back before the place: a smoothed booking
 * round trip, times 1.5. A later measurement replaces the estimate only if it is as precise, or
 * contradicts it beyond both error bounds.
 */
export class DbClock {
  private offsetMs = 0;
  private bestRttMs = Number.POSITIVE_INFINITY;
  private measuredAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> | undefined;
  private rttMs = 2;

  constructor(
    private readonly db: Queryable,
    private readonly now: () => number,
    private readonly maxAgeMs = 60_000,
  ) {}

  /** db − local, ms. */
  async offset(): Promise<number> {
    if (this.now() - this.measuredAt > this.maxAgeMs) {
      this.pending ??= this.measure().finally(() => {
        this.pending = undefined;
      });
      await this.pending;
    }
    return this.offsetMs;
  }

  /** The last measured db − local, ms, without measuring again. */
  get offsetNow(): number {
    return this.offsetMs;
  }

  /** Half the round trip of the best sample: the offset is right to within this. */
  get errorBoundMs(): number {
    return this.bestRttMs / 2;
  }

  /** Records how long a booking took, for `leadMs`. */
  observe(rttMs: number): void {
    this.rttMs = 0.8 * this.rttMs + 0.2 * Math.max(0, rttMs);
  }

  get leadMs(): number {
    return Math.min(50, 1 + 1.5 * this.rttMs);
  }

  private claimLateMs = 0;

  /**
   * How long after its booked place a call of this process is claimed (claim − place, database
   * clock): the timer's lateness plus the claim's own round trip, smoothed. Bookings record their
   * place this much later, so the calls booked behind them are placed where the claims will be and
   * their first claim succeeds (no second round trip).
   */
  observeClaim(ms: number): void {
    this.claimLateMs = 0.8 * this.claimLateMs + 0.2 * Math.min(250, Math.max(0, ms));
  }

  get claimLatenessMs(): number {
    return this.claimLateMs;
  }

  private async measure(): Promise<void> {
    let best = Number.POSITIVE_INFINITY;
    let offset = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = this.now();
      const r = await this.db.query<{ ms: number }>(
        'SELECT extract(epoch FROM clock_timestamp())::float8 * 1000 AS ms',
      );
      const t1 = this.now();
      if (t1 - t0 < best) {
        best = t1 - t0;
        offset = r.rows[0]!.ms - (t0 + t1) / 2;
      }
    }
    this.measuredAt = this.now();
    // A new estimate moves every later send of this process by the difference, against the calls
    // already placed: a larger offset sends them earlier. So a measurement only replaces one that
    // was as precise (a loaded machine's round trips are slow, its estimate far off), or one it
    // contradicts beyond both error bounds (the clocks really moved apart).
    const differs = Math.abs(offset - this.offsetMs) > (best + this.bestRttMs) / 2;
    if (best <= this.bestRttMs || differs) {
      this.offsetMs = offset;
      this.bestRttMs = best;
    }
  }
}
