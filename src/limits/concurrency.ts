import type { Queryable } from '../db/db.ts';

/**
 * Concurrency cap per provider: at most N calls in flight across every process sharing the database.
 * In-process a semaphore queues callers (no database traffic while this process already holds its
 * share); across processes each call holds one row of `concurrency_slots`, with an expiry so a killed
 * process cannot leak slots.
 */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly size: number) {}

  async acquire(): Promise<void> {
    if (this.active < this.size) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
  }
}

const ensured = new WeakMap<Queryable, Map<string, number>>();

async function ensureSlots(db: Queryable, provider: string, size: number): Promise<void> {
  let seen = ensured.get(db);
  if (!seen) {
    seen = new Map();
    ensured.set(db, seen);
  }
  if ((seen.get(provider) ?? 0) >= size) return;
  await db.query(
    `INSERT INTO concurrency_slots (provider, slot) SELECT $1, g FROM generate_series(1, $2::int) g
     ON CONFLICT (provider, slot) DO NOTHING`,
    [provider, size],
  );
  seen.set(provider, size);
}

// SKIP LOCKED: two processes racing for slots each get a different free one instead of waiting.
// A slot lost in a database crash costs nothing (it expires), so no wait for the WAL flush.
const TAKE = `
WITH taken AS (
  UPDATE concurrency_slots SET owner = $2, expires_at = now() + $3::float8 * interval '1 millisecond'
  WHERE (provider, slot) = (
    SELECT provider, slot FROM concurrency_slots
    WHERE provider = $1 AND slot <= $4::int AND (owner IS NULL OR expires_at < now())
    ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED
  )
  RETURNING slot
)
SELECT slot, set_config('synchronous_commit', 'off', true) AS async_commit FROM taken`;

/** Takes a free slot of `provider` for `ttlMs`; undefined when all `size` slots are held. */
export async function takeSlot(
  db: Queryable,
  provider: string,
  size: number,
  owner: string,
  ttlMs: number,
): Promise<number | undefined> {
  await ensureSlots(db, provider, size);
  const res = await db.query<{ slot: number }>(TAKE, [provider, owner, ttlMs, size]);
  // None free: busy, or the rows were deleted behind our back; re-create them on the next try
  // (INSERT ... ON CONFLICT DO NOTHING, only on this contended path).
  if (res.rows.length === 0) ensured.get(db)?.delete(provider);
  return res.rows[0]?.slot;
}

/** Whether a provider's cap needs database slots (a finite, positive cap). */
export function hasConcurrencyCap(concurrency: number): boolean {
  return Number.isFinite(concurrency) && concurrency > 0;
}
