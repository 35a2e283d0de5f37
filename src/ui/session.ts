import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKey } from '../api-keys/api-keys.ts';
import type { Queryable } from '../db/db.ts';

/**
 * Dashboard sessions. The login page takes an API key; a session is a random token in an http-only,
 * Secure, SameSite=Strict cookie, stored only as its SHA-256 in `ui_sessions` with the key it was opened
 * with (so a revoked key ends its sessions at once, and every process of a deployment shares them).
 * The CSRF token of a session is an HMAC of its token: it needs no storage, and a page that cannot read
 * the http-only cookie cannot compute it.
 */

/** The session cookie. `__Host-` makes the browser refuse it unless Secure, Path=/ and host-only. */
export const SESSION_COOKIE = '__Host-sluice_session';
/** Double-submit cookie of the login form (there is no session yet to derive a token from). */
export const LOGIN_COOKIE = '__Host-sluice_login';
/** How long a session lasts. */
export const SESSION_TTL_HOURS = 12;

export interface UiSession {
  token: string;
  apiKey: ApiKey;
  expiresAt: Date;
  csrf: string;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The CSRF token of a session token: HMAC-SHA256(token, "csrf"), base64url. */
export function csrfOf(token: string): string {
  return createHmac('sha256', token).update('sluice-ui-csrf').digest('base64url');
}

/** Constant-time string comparison (false on different lengths). */
export function sameToken(a: string | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function createSession(db: Queryable, apiKey: ApiKey): Promise<UiSession> {
  const token = newToken();
  const r = await db.query<{ expiresAt: Date }>(
    `INSERT INTO ui_sessions (token_hash, api_key_id, expires_at)
     VALUES ($1, $2, now() + make_interval(hours => $3)) RETURNING expires_at AS "expiresAt"`,
    [sha256(token), apiKey.id, SESSION_TTL_HOURS],
  );
  // Expired sessions are removed by whoever logs in next: no timer, and the table stays small.
  await db.query('DELETE FROM ui_sessions WHERE expires_at < now()');
  return { token, apiKey, expiresAt: new Date(r.rows[0]!.expiresAt), csrf: csrfOf(token) };
}

/** The live session of `token` (not expired, key not revoked), or undefined. */
export async function readSession(db: Queryable, token: string | undefined): Promise<UiSession | undefined> {
  if (!token || token.length > 100) return undefined;
  const r = await db.query<ApiKey & { expiresAt: Date }>(
    `SELECT k.id, k.name, k.prefix, k.scopes, k.created_at AS "createdAt", k.last_used_at AS "lastUsedAt",
            k.revoked_at AS "revokedAt", s.expires_at AS "expiresAt"
       FROM ui_sessions s JOIN api_keys k ON k.id = s.api_key_id
      WHERE s.token_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL`,
    [sha256(token)],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const { expiresAt, ...apiKey } = row;
  return { token, apiKey, expiresAt: new Date(expiresAt), csrf: csrfOf(token) };
}

export async function deleteSession(db: Queryable, token: string): Promise<void> {
  await db.query('DELETE FROM ui_sessions WHERE token_hash = $1', [sha256(token)]);
}
