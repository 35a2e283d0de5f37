import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/db.ts';
import { newEndpointSecret } from './signature.ts';

/**
 * Endpoints and deliveries, SQL in one place. A delivery is written with `enqueueDelivery` inside the
 * transaction of the event it reports (a job finishing, a record created by a rule): if that commits, the
 * delivery exists; the sender (delivery-worker.ts) takes it from there.
 */
export interface WebhookEndpoint {
  id: number;
  url: string;
  description: string | null;
  disabledAt: Date | null;
  disabledReason: string | null;
  createdAt: Date;
}

export interface Delivery {
  id: number;
  messageId: string;
  endpointId: number;
  url: string;
  eventType: string;
  state: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  nextAttemptAt: Date;
  lastStatus: number | null;
  lastError: string | null;
  jobId: string | null;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface Attempt {
  attempt: number;
  startedAt: Date;
  durationMs: number;
  status: number | null;
  outcome: 'succeeded' | 'failed' | 'gone';
  error: string | null;
  response: string | null;
}

const ENDPOINT = `SELECT id, url, description, disabled_at AS "disabledAt", disabled_reason AS "disabledReason",
                         created_at AS "createdAt" FROM webhook_endpoints`;

/**
 * The endpoint for `url`, created with a fresh secret when new. `secret` is returned only on creation:
 * it is how the receiver verifies signatures, and it is never listed afterwards.
 */
export async function ensureEndpoint(
  db: Queryable,
  url: string,
  description?: string,
): Promise<{ endpoint: WebhookEndpoint; secret?: string }> {
  const secret = newEndpointSecret();
  const created = await db.query<WebhookEndpoint>(
    `INSERT INTO webhook_endpoints (url, secret, description) VALUES ($1, $2, $3)
     ON CONFLICT (url) DO NOTHING
     RETURNING id, url, description, disabled_at AS "disabledAt", disabled_reason AS "disabledReason",
               created_at AS "createdAt"`,
    [url, secret, description ?? null],
  );
  if (created.rows[0]) return { endpoint: created.rows[0], secret };
  const r = await db.query<WebhookEndpoint>(`${ENDPOINT} WHERE url = $1`, [url]);
  return { endpoint: r.rows[0]! };
}

export async function listEndpoints(db: Queryable): Promise<WebhookEndpoint[]> {
  return (await db.query<WebhookEndpoint>(`${ENDPOINT} ORDER BY id`)).rows;
}

/** Re-enables an endpoint (after it answered 410 or was disabled by hand). */
export async function enableEndpoint(db: Queryable, id: number): Promise<void> {
  await db.query('UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL WHERE id = $1', [
    id,
  ]);
}

/** Writes one delivery (call inside the event's transaction). Returns its id and message id. */
export async function enqueueDelivery(
  tx: Queryable,
  d: { endpointId: number; eventType: string; payload: unknown; jobId?: string },
): Promise<{ id: number; messageId: string }> {
  const messageId = `msg_${randomBytes(12).toString('base64url')}`;
  const r = await tx.query<{ id: number }>(
    `INSERT INTO webhook_deliveries (message_id, endpoint_id, event_type, payload, job_id)
     VALUES ($1, $2, $3, $4, $5) RETURNING id`,
    [messageId, d.endpointId, d.eventType, JSON.stringify(d.payload), d.jobId ?? null],
  );
  return { id: r.rows[0]!.id, messageId };
}

const DELIVERY = `SELECT d.id, d.message_id AS "messageId", d.endpoint_id AS "endpointId", e.url,
       d.event_type AS "eventType", d.state, d.attempts, d.next_attempt_at AS "nextAttemptAt",
       d.last_status AS "lastStatus", d.last_error AS "lastError", d.job_id AS "jobId",
       d.created_at AS "createdAt", d.finished_at AS "finishedAt"
  FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id`;

export async function listDeliveries(
  db: Queryable,
  filter: { state?: string; limit?: number } = {},
): Promise<Delivery[]> {
  const r = await db.query<Delivery>(
    `${DELIVERY} WHERE ($1::text IS NULL OR d.state = $1) ORDER BY d.id DESC LIMIT $2`,
    [filter.state ?? null, filter.limit ?? 50],
  );
  return r.rows;
}

export async function showDelivery(
  db: Queryable,
  id: number,
): Promise<(Delivery & { payload: string; attemptLog: Attempt[] }) | undefined> {
  const r = await db.query<Delivery & { payload: string }>(
    `${DELIVERY.replace('d.finished_at AS "finishedAt"', 'd.finished_at AS "finishedAt", d.payload')} WHERE d.id = $1`,
    [id],
  );
  const d = r.rows[0];
  if (!d) return undefined;
  const a = await db.query<Attempt>(
    `SELECT attempt, started_at AS "startedAt", duration_ms AS "durationMs", status, outcome, error, response
       FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id`,
    [id],
  );
  return { ...d, attemptLog: a.rows };
}

/**
 * Sends a delivery again, now, with the same `webhook-id` (receivers dedupe on it). Its endpoint is
 * re-enabled if it was disabled. Returns false when there is no such delivery.
 */
export async function replayDelivery(db: Queryable, id: number): Promise<boolean> {
  const r = await db.query<{ endpoint_id: number }>(
    `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now(), locked_until = NULL,
            finished_at = NULL
      WHERE id = $1 RETURNING endpoint_id`,
    [id],
  );
  if (!r.rows[0]) return false;
  await enableEndpoint(db, r.rows[0].endpoint_id);
  return true;
}

/**
 * Frees the claims of pending deliveries at once, for a process that knows no other sender can hold
 * them: on PGlite one process owns the data directory, so a claim found at start was left by a process
 * that died (kill -9, power loss) and its callback goes out now instead of when the 30 s lease lapses.
 * Never call this on server Postgres, where other servers' claims are live. Returns how many were freed.
 */
export async function releaseDeliveryClaims(db: Queryable): Promise<number> {
  const r = await db.query(
    `UPDATE webhook_deliveries SET locked_until = NULL WHERE state = 'pending' AND locked_until IS NOT NULL`,
  );
  return r.rowCount;
}
