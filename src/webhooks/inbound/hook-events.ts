import type { Db } from '../../db/db.ts';
import { SluiceError } from '../../errors.ts';
import { type PollLoop, startPollLoop } from '../../queue/poll-loop.ts';
import type { InboundContext, InboundRegistry } from './inbound-registry.ts';

/** Processing attempts before an event is `failed` (retryable errors; critical ones fail at once). */
const MAX_ATTEMPTS = 5;

/** Stores a verified raw event; false when (source, event id) was seen before (a retry: acknowledged). */
export async function storeHookEvent(
  db: Db,
  source: string,
  eventId: string,
  body: string,
): Promise<{ id: number | null; duplicate: boolean }> {
  const r = await db.query<{ id: number }>(
    `INSERT INTO hook_events (source, event_id, body) VALUES ($1, $2, $3)
     ON CONFLICT (source, event_id) DO NOTHING RETURNING id`,
    [source, eventId, body],
  );
  return { id: r.rows[0]?.id ?? null, duplicate: r.rows.length === 0 };
}

/** The same for hook events (see releaseDeliveryClaims in webhook-store.ts: PGlite only). */
export async function releaseHookEventClaims(db: Db): Promise<number> {
  const r = await db.query(
    `UPDATE hook_events SET locked_until = NULL WHERE state = 'pending' AND locked_until IS NOT NULL`,
  );
  return r.rowCount;
}

/**
 * Processes stored hook events with their source's `process`, a few at a time (SKIP LOCKED + lease, so
 * several servers share the work and a killed one's claims come back). Critical errors (the event can
 * never be processed) fail it at once; others retry with backoff (10 s × 2^n), then fail.
 */
export function startHookProcessor(
  db: Db,
  registry: InboundRegistry,
  options: {
    intervalMs?: number;
    onError?: (err: unknown) => void;
    /** The lease owner to name in claims (lease-owner.ts; server Postgres), or null/absent: lease only. */
    owner?: () => string | null;
  } = {},
): PollLoop {
  const ctx: InboundContext = { db };
  const tick = async () => {
    const r = await db.query<{
      id: number;
      source: string;
      event_id: string;
      body: string;
      attempts: number;
      received_at: Date;
    }>(
      `WITH due AS (
         SELECT id FROM hook_events
          WHERE state = 'pending' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
          ORDER BY id LIMIT 20 FOR UPDATE SKIP LOCKED)
       UPDATE hook_events h SET locked_until = now() + interval '120 seconds', locked_by = $1,
              attempts = h.attempts + 1
         FROM due WHERE h.id = due.id
       RETURNING h.id, h.source, h.event_id, h.body, h.attempts, h.received_at`,
      [options.owner?.() ?? null],
    );
    for (const e of r.rows) {
      const source = registry.get(e.source);
      try {
        if (!source) throw new Error(`no inbound source "${e.source}" is registered`);
        const result = await source.process(
          {
            id: e.id,
            source: e.source,
            eventId: e.event_id,
            body: JSON.parse(e.body),
            receivedAt: e.received_at,
          },
          ctx,
        );
        await db.query(
          `UPDATE hook_events SET state = 'processed', result = $2::jsonb, error = NULL, locked_until = NULL, processed_at = now() WHERE id = $1`,
          [e.id, JSON.stringify(result ?? null)],
        );
      } catch (err) {
        const critical =
          err instanceof SluiceError && (err.errorClass === 'critical' || err.errorClass === 'config');
        const last = critical || e.attempts >= MAX_ATTEMPTS;
        await db.query(
          `UPDATE hook_events SET state = $2, error = $3, locked_until = NULL,
                  next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1`,
          [e.id, last ? 'failed' : 'pending', (err as Error).message, 10 * 2 ** (e.attempts - 1)],
        );
        if (!critical) options.onError?.(err);
      }
    }
    return r.rows.length === 20;
  };
  return startPollLoop(tick, { intervalMs: options.intervalMs ?? 500, onError: options.onError });
}
