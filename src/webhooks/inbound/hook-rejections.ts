import type { Db } from '../../db/db.ts';
import { storeHookEvent } from './hook-events.ts';
import type { InboundRegistry, InboundRequest } from './inbound-registry.ts';
import { sha256Hex } from './verify-hmac.ts';

/**
 * Inbound requests refused for their signature or URL token, kept (table `hook_rejections`) so a
 * misconfigured secret shows up and its events can be recovered: ClickUp drops an event for good after
 * 5 failed retries, so answering 401 and forgetting loses data. Apart from `hook_events` on purpose: a
 * forged request must never occupy a real event's dedupe key, and nothing here is processed.
 *
 * What is kept: the raw bytes (first 64 KiB), the URL without its token, the headers the source's check
 * read (signatures, timestamps) plus content-type and user-agent — never a secret: a URL token is kept
 * only as its SHA-256. Bounded: the newest {@link KEEP_PER_SOURCE} per source.
 */
export const KEEP_PER_SOURCE = 1000;
/** Raw bytes kept per refused request; a longer body is cut (and can no longer be re-checked). */
export const MAX_KEPT_BYTES = 64 * 1024;
/** Prune every this many insertions (a DELETE per request would double the cost of a flood). */
const PRUNE_EVERY = 50;

export interface RecordingRequest {
  request: InboundRequest;
  /** Names (lowercase) of the headers the check read. */
  headersRead: Set<string>;
}

/** Wraps a request so the headers the source's `verify` reads are remembered (to store them if it refuses). */
export function recordingRequest(request: InboundRequest): RecordingRequest {
  const headersRead = new Set<string>();
  return {
    headersRead,
    request: {
      ...request,
      header: (n) => {
        headersRead.add(n.toLowerCase());
        return request.header(n);
      },
    },
  };
}

/** The URL with a `?token=` removed, and the token given (path segment first, as the sources read it). */
function splitToken(req: InboundRequest): { url: string; token: string | undefined } {
  const u = new URL(req.url);
  const query = u.searchParams.get('token') ?? undefined;
  // re-serialise only when there is a token to drop: HubSpot signs the URI exactly as it called it
  if (query !== undefined) u.searchParams.delete('token');
  let url = query !== undefined ? u.toString() : req.url;
  if (req.token !== undefined) url = url.replace(`/${encodeURIComponent(req.token)}`, '/<token>');
  return { url, token: req.token ?? query };
}

/** Stores one refused request (and now and then prunes the source's oldest beyond KEEP_PER_SOURCE). */
export async function storeHookRejection(
  db: Db,
  source: string,
  reason: string,
  rec: RecordingRequest,
): Promise<number> {
  const req = rec.request;
  const headers: Record<string, string> = {};
  for (const n of new Set(['content-type', 'user-agent', ...rec.headersRead])) {
    const v = req.header(n);
    if (v !== undefined) headers[n] = v.slice(0, 1000);
  }
  const { url, token } = splitToken(req);
  const r = await db.query<{ id: number }>(
    `INSERT INTO hook_rejections (source, reason, method, url, headers, token_sha256, body, body_bytes)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, decode($7, 'base64'), $8) RETURNING id`,
    [
      source,
      reason.slice(0, 500),
      req.method,
      url.slice(0, 2000),
      JSON.stringify(headers),
      token === undefined ? null : sha256Hex(token),
      req.raw.subarray(0, MAX_KEPT_BYTES).toString('base64'),
      req.raw.length,
    ],
  );
  const id = Number(r.rows[0]!.id);
  if (id % PRUNE_EVERY === 0)
    await db.query(
      `DELETE FROM hook_rejections WHERE source = $1 AND id < (
         SELECT id FROM hook_rejections WHERE source = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)`,
      [source, KEEP_PER_SOURCE - 1],
    );
  return id;
}

export interface HookRejection {
  id: number;
  source: string;
  reason: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyBytes: number;
  receivedAt: Date;
  acceptedEventId: number | null;
  /** The first 200 characters of the body, as text. */
  preview: string;
}

export async function listHookRejections(
  db: Db,
  options: { source?: string; limit?: number } = {},
): Promise<HookRejection[]> {
  const r = await db.query<{
    id: number;
    source: string;
    reason: string;
    method: string;
    url: string;
    headers: Record<string, string>;
    body_bytes: number;
    received_at: Date;
    accepted_event_id: number | null;
    body64: string;
  }>(
    `SELECT id, source, reason, method, url, headers, body_bytes, received_at, accepted_event_id,
            encode(substring(body from 1 for 600), 'base64') AS body64
       FROM hook_rejections WHERE ($1::text IS NULL OR source = $1) ORDER BY id DESC LIMIT $2`,
    [options.source ?? null, options.limit ?? 50],
  );
  return r.rows.map((x) => ({
    id: Number(x.id),
    source: x.source,
    reason: x.reason,
    method: x.method,
    url: x.url,
    headers: x.headers,
    bodyBytes: x.body_bytes,
    receivedAt: new Date(x.received_at),
    acceptedEventId: x.accepted_event_id === null ? null : Number(x.accepted_event_id),
    preview: Buffer.from(x.body64, 'base64').toString('utf8').slice(0, 200),
  }));
}

export type ReverifyResult =
  | { outcome: 'accepted'; eventId: string; duplicate: boolean }
  | { outcome: 'refused'; reason: string };

/**
 * Checks a refused request again with the source's current secret (after fixing a misconfigured one).
 * When it verifies now, it is stored as a hook event (deduplicated as usual) for a server to process.
 * Returns undefined when there is no such rejection. Sources with a time window (HubSpot v3: 5 minutes)
 * refuse old requests again, as they should: HubSpot retries, and CRM sync's poll reconciles.
 */
export async function reverifyHookRejection(
  db: Db,
  registry: InboundRegistry,
  env: Readonly<Record<string, string | undefined>>,
  id: number,
): Promise<ReverifyResult | undefined> {
  const r = await db.query<{
    source: string;
    method: string;
    url: string;
    headers: Record<string, string>;
    token_sha256: string | null;
    body64: string;
    body_bytes: number;
  }>(
    `SELECT source, method, url, headers, token_sha256, encode(body, 'base64') AS body64, body_bytes
       FROM hook_rejections WHERE id = $1`,
    [id],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const source = registry.get(row.source);
  const secret = source ? env[source.secretEnv] : undefined;
  if (!source || !secret)
    return { outcome: 'refused', reason: `inbound source "${row.source}" is not configured here` };
  const raw = Buffer.from(row.body64, 'base64');
  if (raw.length < row.body_bytes)
    return {
      outcome: 'refused',
      reason: `only the first ${raw.length} of ${row.body_bytes} bytes were kept; it cannot be checked`,
    };
  // the token itself was never stored: the one sent was right iff its hash is the secret's hash
  const tokenMatches = row.token_sha256 !== null && row.token_sha256 === sha256Hex(secret);
  const req: InboundRequest = {
    method: row.method,
    url: row.url.replace('/<token>', ''),
    raw,
    header: (n) => row.headers[n.toLowerCase()],
    token: row.token_sha256 === null ? undefined : tokenMatches ? secret : `${secret}\u0000`,
  };
  const refused = source.verify(req, secret);
  if (refused) return { outcome: 'refused', reason: refused };
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return { outcome: 'refused', reason: 'the body is not JSON' };
  }
  const eventId = source.eventId(req, body);
  const stored = await storeHookEvent(db, row.source, eventId, raw.toString('utf8'));
  if (stored.id !== null)
    await db.query('UPDATE hook_rejections SET accepted_event_id = $2 WHERE id = $1', [id, stored.id]);
  return { outcome: 'accepted', eventId, duplicate: stored.duplicate };
}
