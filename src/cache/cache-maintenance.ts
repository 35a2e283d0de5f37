import type { Queryable } from '../db/db.ts';

/**
 * Cache housekeeping: the size cap (LRU eviction), manual purge, and stats. The cache is the plain
 * table `cache_entries`, so anything here can also be done with SQL.
 */

/**
 * Deletes expired entries, stale in-flight markers, and the least recently hit entries beyond
 * `maxEntries`. Returns how many entries were deleted.
 */
export async function evictCache(db: Queryable, maxEntries: number): Promise<number> {
  await db.query('DELETE FROM cache_inflight WHERE expires_at < now()');
  const r = await db.query(
    `DELETE FROM cache_entries WHERE expires_at <= now() OR key IN (
       SELECT key FROM cache_entries ORDER BY last_hit_at DESC, created_at DESC OFFSET $1::int)`,
    [Math.max(0, Math.floor(maxEntries))],
  );
  return r.rowCount;
}

/**
 * Read port: when the newest answer of each (provider, operation) was written (a cache write, first or
 * refresh, sets `created_at`), as one string; it changes whenever one of those answers may have. For
 * readers that derive something from the cache's answers (learning's verifier outcomes) and want to
 * know whether to look again. Uses the (provider, operation, created_at) index.
 */
export async function cacheWatermark(
  db: Queryable,
  scopes: readonly { provider: string; operation: string }[],
): Promise<string> {
  const parts: string[] = [];
  for (const s of scopes) {
    const r = await db.query<{ at: string | null }>(
      'SELECT max(created_at)::text AS at FROM cache_entries WHERE provider = $1 AND operation = $2',
      [s.provider, s.operation],
    );
    parts.push(`${s.provider}/${s.operation}:${r.rows[0]?.at ?? ''}`);
  }
  return parts.join(' ');
}

export interface PurgeFilter {
  provider?: string;
  operation?: string;
  /** Only entries created at least this long ago. */
  olderThanMs?: number;
}

/** Deletes the matching entries (all of them without a filter). Returns how many. */
export async function purgeCache(db: Queryable, filter: PurgeFilter = {}): Promise<number> {
  const r = await db.query(
    `DELETE FROM cache_entries
     WHERE ($1::text IS NULL OR provider = $1)
       AND ($2::text IS NULL OR operation = $2)
       AND ($3::float8 IS NULL OR created_at <= now() - $3::float8 * interval '1 millisecond')`,
    [filter.provider ?? null, filter.operation ?? null, filter.olderThanMs ?? null],
  );
  return r.rowCount;
}

export interface CacheStatsRow {
  provider: string;
  operation: string;
  /** Live (unexpired) entries, found and not-found. */
  entries: number;
  notFoundEntries: number;
  expiredEntries: number;
  /** From the ledger: calls answered by the cache, by another identical in-flight call, and paid calls. */
  hits: number;
  coalesced: number;
  misses: number;
  hitRate: number;
  savedUsd: number;
  spentUsd: number;
}

/** Per provider and operation: entries from the cache table, hits/misses/cost from the ledger. */
export async function cacheStats(
  db: Queryable,
  filter: Omit<PurgeFilter, 'olderThanMs'> = {},
): Promise<CacheStatsRow[]> {
  const r = await db.query<{
    provider: string;
    operation: string;
    entries: number;
    not_found_entries: number;
    expired_entries: number;
    hits: number;
    coalesced: number;
    misses: number;
    saved_usd: number;
    spent_usd: number;
  }>(
    `WITH e AS (
       SELECT provider, operation,
              count(*) FILTER (WHERE expires_at > now())::int AS entries,
              count(*) FILTER (WHERE expires_at > now() AND NOT found)::int AS not_found_entries,
              count(*) FILTER (WHERE expires_at <= now())::int AS expired_entries
       FROM cache_entries GROUP BY provider, operation
     ), l AS (
       SELECT provider, operation,
              count(*) FILTER (WHERE cache = 'hit')::int AS hits,
              count(*) FILTER (WHERE cache = 'coalesced')::int AS coalesced,
              count(*) FILTER (WHERE cache IN ('miss', 'refresh') AND attempt = 1)::int AS misses,
              coalesce(sum(saved_usd), 0)::float8 AS saved_usd,
              coalesce(sum(cost_usd), 0)::float8 AS spent_usd
       FROM ledger GROUP BY provider, operation
     )
     SELECT coalesce(e.provider, l.provider) AS provider, coalesce(e.operation, l.operation) AS operation,
            coalesce(e.entries, 0) AS entries, coalesce(e.not_found_entries, 0) AS not_found_entries,
            coalesce(e.expired_entries, 0) AS expired_entries,
            coalesce(l.hits, 0) AS hits, coalesce(l.coalesced, 0) AS coalesced, coalesce(l.misses, 0) AS misses,
            coalesce(l.saved_usd, 0) AS saved_usd, coalesce(l.spent_usd, 0) AS spent_usd
     FROM e FULL JOIN l ON l.provider = e.provider AND l.operation = e.operation
     WHERE ($1::text IS NULL OR coalesce(e.provider, l.provider) = $1)
       AND ($2::text IS NULL OR coalesce(e.operation, l.operation) = $2)
     ORDER BY 1, 2`,
    [filter.provider ?? null, filter.operation ?? null],
  );
  return r.rows.map((x) => {
    const answered = x.hits + x.coalesced + x.misses;
    return {
      provider: x.provider,
      operation: x.operation,
      entries: x.entries,
      notFoundEntries: x.not_found_entries,
      expiredEntries: x.expired_entries,
      hits: x.hits,
      coalesced: x.coalesced,
      misses: x.misses,
      hitRate: answered > 0 ? (x.hits + x.coalesced) / answered : 0,
      savedUsd: x.saved_usd,
      spentUsd: x.spent_usd,
    };
  });
}
