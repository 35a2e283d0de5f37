import type { Db, Queryable } from '../../db/db.ts';

/**
 * The ledger pre-aggregated by hour (`ledger_hourly`, migration 0028), so the dashboard never scans the
 * ledger per request. The ledger is append-only; `foldLedger` adds the rows past the watermark
 * (`ledger_rollup_state.last_id`) that are older than LAG_SECONDS, and every reader adds the unfolded
 * tail itself (a range of the primary key), so the figures are exact and current. A row whose
 * transaction commits late has an id below rows already visible: the lag lets most of them commit
 * first, and every id the fold passes without a row is noted in `ledger_rollup_gaps` (migration 0036):
 * readers add the rows that appeared there, the next fold folds them and forgets the id, and an id
 * still without a row after GAP_DAYS was rolled back and is forgotten.
 */
export const LAG_SECONDS = 60;
/** Rows folded per statement (the first fold of a big ledger runs in several). */
const CHUNK = 250_000;
/** A gap id with no row after this long was a rolled-back insert. */
const GAP_DAYS = 1;
/** A process folds at most this often. */
const FOLD_EVERY_MS = 30_000;

/**
 * The ledger's facts as rows of the rollup's shape: the folded hours plus the unfolded tail. Select from
 * it with your own WHERE and GROUP BY (columns: hour, provider, operation, batch_id (0 = none), cache,
 * status, error_class ('' = none), rows, requests, throttles, cost_usd, saved_usd, latency_ms_sum).
 */
export const LEDGER_FACTS = `(
  SELECT hour, provider, operation, batch_id, cache, status, error_class, rows, requests, throttles,
         cost_usd, saved_usd, latency_ms_sum
    FROM ledger_hourly
  UNION ALL
  SELECT date_trunc('hour', l.created_at), l.provider, l.operation, coalesce(l.batch_id, 0), l.cache, l.status,
         coalesce(l.error_class, ''), 1, (l.attempt >= 1)::int,
         (coalesce(l.http_status, 0) = 429 OR l.error_class = 'throttled')::int, l.cost_usd, l.saved_usd,
         l.latency_ms::bigint
    FROM ledger l WHERE l.id > (SELECT last_id FROM ledger_rollup_state)
  UNION ALL
  SELECT date_trunc('hour', l.created_at), l.provider, l.operation, coalesce(l.batch_id, 0), l.cache, l.status,
         coalesce(l.error_class, ''), 1, (l.attempt >= 1)::int,
         (coalesce(l.http_status, 0) = 429 OR l.error_class = 'throttled')::int, l.cost_usd, l.saved_usd,
         l.latency_ms::bigint
    FROM ledger_rollup_gaps g JOIN ledger l ON l.id = g.id
) facts`;

/** Folds the settled rows past the watermark into ledger_hourly. Returns the rows folded. */
export async function foldLedger(db: Db, options: { lagSeconds?: number } = {}): Promise<number> {
  let folded = 0;
  for (;;) {
    const n = await db.transaction(async (tx) => {
      // One folder at a time; a second one finds the row locked and leaves.
      const st = await tx.query<{ last_id: string }>(
        'SELECT last_id FROM ledger_rollup_state FOR UPDATE SKIP LOCKED',
      );
      if (!st.rows[0]) return 0;
      const last = Number(st.rows[0].last_id);
      const upper = await settledUpTo(tx, last, options.lagSeconds ?? LAG_SECONDS);
      if (upper <= last) return 0;
      // One statement, so one snapshot: every id of the range is either folded here or noted as a gap
      // (its transaction still open, or rolled back); none can slip between two statements.
      const r = await tx.query<{ gaps: number }>(
        `WITH folded AS (
           INSERT INTO ledger_hourly AS h (hour, provider, operation, batch_id, cache, status, error_class, rows,
                  requests, throttles, cost_usd, saved_usd, latency_ms_sum)
           SELECT date_trunc('hour', created_at), provider, operation, coalesce(batch_id, 0), cache, status,
                  coalesce(error_class, ''), count(*), count(*) FILTER (WHERE attempt >= 1),
                  count(*) FILTER (WHERE coalesce(http_status, 0) = 429 OR error_class = 'throttled'),
                  sum(cost_usd), sum(saved_usd), sum(latency_ms)
             FROM ledger WHERE id > $1 AND id <= $2 GROUP BY 1, 2, 3, 4, 5, 6, 7
           ON CONFLICT (hour, provider, operation, batch_id, cache, status, error_class) DO UPDATE SET
             rows = h.rows + EXCLUDED.rows, requests = h.requests + EXCLUDED.requests,
             throttles = h.throttles + EXCLUDED.throttles, cost_usd = h.cost_usd + EXCLUDED.cost_usd,
             saved_usd = h.saved_usd + EXCLUDED.saved_usd, latency_ms_sum = h.latency_ms_sum + EXCLUDED.latency_ms_sum
           RETURNING 1),
         gaps AS (
           INSERT INTO ledger_rollup_gaps (id)
           SELECT g FROM generate_series($1::bigint + 1, $2::bigint) g LEFT JOIN ledger l ON l.id = g
            WHERE l.id IS NULL
           ON CONFLICT DO NOTHING RETURNING 1)
         SELECT (SELECT count(*) FROM folded) AS groups, (SELECT count(*) FROM gaps)::int AS gaps`,
        [last, upper],
      );
      await tx.query('UPDATE ledger_rollup_state SET last_id = $1', [upper]);
      return { span: upper - last, rows: upper - last - r.rows[0]!.gaps };
    });
    folded += n === 0 ? 0 : n.rows;
    if (n === 0 || n.span < CHUNK) return folded + (await foldGaps(db));
  }
}

/** Folds the rows that appeared at noted gap ids (late commits); forgets ids too old to appear. */
async function foldGaps(db: Db): Promise<number> {
  return db.transaction(async (tx) => {
    const st = await tx.query('SELECT last_id FROM ledger_rollup_state FOR UPDATE SKIP LOCKED');
    if (!st.rows[0]) return 0;
    const r = await tx.query<{ n: number }>(
      `WITH found AS (
         DELETE FROM ledger_rollup_gaps g USING ledger l WHERE l.id = g.id RETURNING l.*
       ), ins AS (
         INSERT INTO ledger_hourly AS h (hour, provider, operation, batch_id, cache, status, error_class, rows,
                requests, throttles, cost_usd, saved_usd, latency_ms_sum)
         SELECT date_trunc('hour', created_at), provider, operation, coalesce(batch_id, 0), cache, status,
                coalesce(error_class, ''), count(*), count(*) FILTER (WHERE attempt >= 1),
                count(*) FILTER (WHERE coalesce(http_status, 0) = 429 OR error_class = 'throttled'),
                sum(cost_usd), sum(saved_usd), sum(latency_ms)
           FROM found GROUP BY 1, 2, 3, 4, 5, 6, 7
         ON CONFLICT (hour, provider, operation, batch_id, cache, status, error_class) DO UPDATE SET
           rows = h.rows + EXCLUDED.rows, requests = h.requests + EXCLUDED.requests,
           throttles = h.throttles + EXCLUDED.throttles, cost_usd = h.cost_usd + EXCLUDED.cost_usd,
           saved_usd = h.saved_usd + EXCLUDED.saved_usd, latency_ms_sum = h.latency_ms_sum + EXCLUDED.latency_ms_sum
         RETURNING 1)
       SELECT (SELECT count(*) FROM found)::int AS n`,
    );
    await tx.query(`DELETE FROM ledger_rollup_gaps WHERE noted_at < now() - make_interval(days => $1)`, [
      GAP_DAYS,
    ]);
    return r.rows[0]!.n;
  });
}

/** The highest id up to which every row (after `last`, at most CHUNK of them) is older than the lag. */
async function settledUpTo(tx: Queryable, last: number, lagSeconds: number): Promise<number> {
  const r = await tx.query<{ upper: string | null }>(
    `WITH next AS (SELECT id, created_at FROM ledger WHERE id > $1 ORDER BY id LIMIT $3)
     SELECT coalesce((SELECT min(id) - 1 FROM next WHERE created_at >= now() - make_interval(secs => $2)),
                     (SELECT max(id) FROM next), $1) AS upper`,
    [last, lagSeconds, CHUNK],
  );
  return Number(r.rows[0]!.upper);
}

const lastFold = new WeakMap<Db, number>();
const folding = new WeakMap<Db, Promise<unknown>>();

/**
 * Starts a fold in the background when this process has not folded for a while. Readers never wait
 * for it (they add the tail themselves); a failure is retried on a later page view.
 */
export function foldSoon(db: Db): void {
  const now = Date.now();
  if (folding.has(db) || now - (lastFold.get(db) ?? 0) < FOLD_EVERY_MS) return;
  lastFold.set(db, now);
  const p = foldLedger(db)
    .catch(() => {})
    .finally(() => folding.delete(db));
  folding.set(db, p);
}
