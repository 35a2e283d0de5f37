import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/db.ts';
import { ConfigError } from '../errors.ts';

/**
 * API keys for `sluice serve`. A key is `sk_` + 32 random bytes (base64url), shown once at creation;
 * only its SHA-256 is stored. A presented key is hashed and looked up by hash, then compared in constant
 * time. Scopes nest: `admin` ⊇ `write` ⊇ `read`.
 */
export type Scope = 'read' | 'write' | 'admin';
export const SCOPES: readonly Scope[] = ['read', 'write', 'admin'];

export interface ApiKey {
  id: number;
  name: string;
  prefix: string;
  scopes: Scope[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export const KEY_PREFIX = 'sk_';

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Whether a key holding `held` may do what needs `needed` (admin ⊇ write ⊇ read). */
export function allows(held: readonly Scope[], needed: Scope): boolean {
  const rank = (s: Scope) => SCOPES.indexOf(s);
  return held.some((s) => rank(s) >= rank(needed));
}

export function parseScopes(raw: string): Scope[] {
  const scopes = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = scopes.find((s) => !SCOPES.includes(s as Scope));
  if (bad || scopes.length === 0)
    throw new ConfigError(
      `--scopes: ${bad ? `unknown scope "${bad}"` : 'no scope given'}; use read, write or admin (comma-separated)`,
      { exitCode: 2 },
    );
  return [...new Set(scopes as Scope[])];
}

const SELECT = `SELECT id, name, prefix, scopes, created_at AS "createdAt", last_used_at AS "lastUsedAt",
                       revoked_at AS "revokedAt" FROM api_keys`;

/** Creates a key; the returned `key` is the only time it exists in clear. */
export async function createApiKey(
  db: Queryable,
  options: { name: string; scopes: Scope[] },
): Promise<{ key: string; apiKey: ApiKey }> {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  const r = await db.query<ApiKey>(
    `INSERT INTO api_keys (name, prefix, hash, scopes) VALUES ($1, $2, $3, $4::text[])
     RETURNING id, name, prefix, scopes, created_at AS "createdAt", last_used_at AS "lastUsedAt",
               revoked_at AS "revokedAt"`,
    [options.name, key.slice(0, 10), hashKey(key), options.scopes],
  );
  return { key, apiKey: r.rows[0]! };
}

export async function listApiKeys(db: Queryable): Promise<ApiKey[]> {
  return (await db.query<ApiKey>(`${SELECT} ORDER BY id`)).rows;
}

/** Revokes by id or name; returns the keys revoked. */
export async function revokeApiKey(db: Queryable, idOrName: string): Promise<ApiKey[]> {
  const id = /^\d+$/.test(idOrName) ? Number(idOrName) : -1;
  const r = await db.query<ApiKey>(
    `UPDATE api_keys SET revoked_at = now() WHERE (id = $1 OR name = $2) AND revoked_at IS NULL
     RETURNING id, name, prefix, scopes, created_at AS "createdAt", last_used_at AS "lastUsedAt",
               revoked_at AS "revokedAt"`,
    [id, idOrName],
  );
  return r.rows;
}

/** Keys that are not revoked. */
export async function countActiveKeys(db: Queryable): Promise<number> {
  const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL');
  return r.rows[0]!.n;
}

/** The active key matching `presented`, or undefined. */
export async function verifyApiKey(db: Queryable, presented: string): Promise<ApiKey | undefined> {
  if (!presented.startsWith(KEY_PREFIX) || presented.length > 200) return undefined;
  const hash = hashKey(presented);
  const r = await db.query<ApiKey & { hash: string }>(
    `${SELECT.replace(' FROM', ', hash FROM')} WHERE hash = $1 AND revoked_at IS NULL`,
    [hash],
  );
  const row = r.rows[0];
  if (!row || !timingSafeEqual(Buffer.from(row.hash, 'hex'), Buffer.from(hash, 'hex'))) return undefined;
  const { hash: _h, ...key } = row;
  return key;
}
