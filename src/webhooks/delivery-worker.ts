import type { Db } from '../db/db.ts';
import { retryWhileDatabaseDown } from '../db/db-retry.ts';
import { type PollLoop, startPollLoop } from '../queue/poll-loop.ts';
import { MAX_ATTEMPTS, retryDelayMs } from './retry-schedule.ts';
import { CALLBACK_LIMITS, type CallbackPolicy, isRefusal, postWebhook } from './send-webhook.ts';
import { signatureHeaders } from './signature.ts';

export interface DeliveryWorkerOptions {
  db: Db;
  policy: CallbackPolicy;
  /** Deliveries sent at once. Default 8. */
  concurrency?: number;
  /** A claimed delivery whose sender died is taken over after this. Default 30 s (twice the 15 s attempt cap). */
  leaseSeconds?: number;
  /** Wait between looks for due deliveries. Default 500 ms. */
  intervalMs?: number;
  onError?: (err: unknown) => void;
  /** The lease owner to name in claims (lease-owner.ts; server Postgres), or null/absent: lease only. */
  owner?: () => string | null;
}

/** How long an attempt's outcome is retried against an unreachable database: well inside the 30 s lease. */
const RECORD_PATIENCE_MS = 10_000;

interface Claimed {
  id: number;
  message_id: string;
  payload: string;
  attempts: number;
  url: string;
  secret: string;
  disabled: boolean;
}

/**
 * Sends due webhook deliveries: claims them (SKIP LOCKED, with a lease so a killed sender's claims come
 * back), signs each attempt afresh (new timestamp, same webhook-id), records every attempt, and
 * reschedules failures on the Svix schedule. 2xx = delivered; 3xx and everything else = failed; 410 =
 * the receiver is gone for good: the endpoint is disabled and its pending deliveries fail. Sent through
 * the safe outbound edge (send-webhook.ts); a refused URL fails at once (replayable), not on schedule.
 */
function deliverySender(options: DeliveryWorkerOptions) {
  const { db } = options;
  const lease = options.leaseSeconds ?? 2 * (CALLBACK_LIMITS.timeoutMs / 1000);
  const send = async (max: number): Promise<number> => {
    const r = await db.query<Claimed>(
      `WITH due AS (
         SELECT id FROM webhook_deliveries
          WHERE state = 'pending' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => $2), locked_by = $3,
              attempts = d.attempts + 1
         FROM due, webhook_endpoints e
        WHERE d.id = due.id AND e.id = d.endpoint_id
       RETURNING d.id, d.message_id, d.payload, d.attempts, e.url, e.secret, e.disabled_at IS NOT NULL AS disabled`,
      [max, lease, options.owner?.() ?? null],
    );
    await Promise.all(r.rows.map((d) => attempt(d).catch((err: unknown) => options.onError?.(err))));
    return r.rows.length;
  };

  const attempt = async (d: Claimed) => {
    if (d.disabled) {
      await db.query(
        `UPDATE webhook_deliveries SET state = 'failed', locked_until = NULL, finished_at = now(),
                last_error = 'endpoint disabled (it answered 410 Gone); replay after fixing it' WHERE id = $1`,
        [d.id],
      );
      return;
    }
    const started = new Date();
    const t0 = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    let response: string | null = null;
    let refused = false;
    try {
      const res = await postWebhook(
        d.url,
        signatureHeaders(d.secret, d.message_id, d.payload),
        d.payload,
        options.policy,
      );
      status = res.status;
      response = res.body;
      if (status < 200 || status >= 300) error = `answered ${status}`;
    } catch (err) {
      error = (err as Error).message;
      refused = isRefusal(err);
    }
    const durationMs = Math.round(performance.now() - t0);
    const outcome =
      status !== null && status >= 200 && status < 300 ? 'succeeded' : status === 410 ? 'gone' : 'failed';
    // A refusal (the address is internal, the answer too large) is not retried: waiting cannot fix it.
    const delay = outcome === 'failed' && !refused ? retryDelayMs(d.attempts) : undefined;
    const state = outcome === 'succeeded' ? 'succeeded' : delay === undefined ? 'failed' : 'pending';
    // The receiver has answered: its answer must be kept. A database that is briefly unreachable is
    // waited out (while the claim's lease still runs), rather than leaving the claim to lapse and the
    // delivery to be sent again as if the answer had never come. Fenced on the claim (locked, same
    // attempt number), so a try whose commit succeeded but was reported failed is not recorded twice.
    await retryWhileDatabaseDown(
      () =>
        db.transaction(async (tx) => {
          const mine = await tx.query(
            `UPDATE webhook_deliveries SET state = $2, locked_until = NULL, last_status = $3, last_error = $4,
                    next_attempt_at = now() + make_interval(secs => $5),
                    finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END
              WHERE id = $1 AND attempts = $6 AND locked_until IS NOT NULL`,
            [d.id, state, status, error, (delay ?? 0) / 1000, d.attempts],
          );
          if (mine.rowCount === 0) return;
          await tx.query(
            `INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status, outcome, error, response)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [d.id, d.attempts, started.toISOString(), durationMs, status, outcome, error, response],
          );
          if (outcome === 'gone')
            await tx.query(
              `UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = $2 WHERE id = (SELECT endpoint_id FROM webhook_deliveries WHERE id = $1)`,
              [d.id, `answered 410 Gone to delivery ${d.id}`],
            );
        }),
      { maxMs: RECORD_PATIENCE_MS, onWait: options.onError },
    );
  };

  return send;
}

export function startDeliveryWorker(options: DeliveryWorkerOptions): PollLoop {
  const send = deliverySender(options);
  const max = options.concurrency ?? 8;
  const tick = async (): Promise<boolean> => (await send(max)) === max;
  return startPollLoop(tick, { intervalMs: options.intervalMs ?? 500, onError: options.onError });
}

/**
 * One pass of the sender for processes that run no `serve` loop (the `webhook-retries` schedule):
 * every due delivery, `concurrency` at a time, at most `max`. Claims are the loop's (SKIP LOCKED,
 * leased), so a pass next to a running `serve` never sends a delivery twice.
 */
export async function sendDueDeliveries(
  options: DeliveryWorkerOptions,
  max: number,
): Promise<{ attempted: number }> {
  const send = deliverySender(options);
  const chunk = options.concurrency ?? 8;
  let attempted = 0;
  while (attempted < max) {
    const n = await send(Math.min(chunk, max - attempted));
    attempted += n;
    if (n === 0) break;
  }
  return { attempted };
}

export { MAX_ATTEMPTS };
