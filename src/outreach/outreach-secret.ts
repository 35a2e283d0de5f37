import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/db.ts';
import { ConfigError } from '../errors.ts';
import { registerSecret } from '../secrets/redact.ts';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The HMAC key of unsubscribe links (docs/outreach.md "Unsubscribe"). `SLUICE_OUTREACH_SECRET` when
 * set (at least 32 characters); otherwise a random key generated once per database and kept in
 * `instance_secrets`, so every process on the database signs and verifies with the same key and links
 * stay valid across restarts. There is no constant fallback: a key anyone can read in the source would
 * let anyone unsubscribe anyone. The value is registered for redaction and never logged.
 */
export const OUTREACH_SECRET_ENV = 'SLUICE_OUTREACH_SECRET';
const NAME = 'outreach-unsubscribe';
const MIN_LENGTH = 32;

const cache = new WeakMap<Queryable, Promise<string>>();

export function outreachSecret(db: Queryable, env: Env): Promise<string> {
  const fromEnv = env[OUTREACH_SECRET_ENV]?.trim();
  if (fromEnv !== undefined && fromEnv !== '') {
    if (fromEnv.length < MIN_LENGTH)
      return Promise.reject(
        new ConfigError(
          `${OUTREACH_SECRET_ENV} is ${fromEnv.length} characters long; use at least ${MIN_LENGTH} random characters (e.g. \`openssl rand -base64 32\`), or unset it and Sluice generates one in the database`,
          { exitCode: 2 },
        ),
      );
    registerSecret(fromEnv);
    return Promise.resolve(fromEnv);
  }
  let p = cache.get(db);
  if (!p) {
    p = storedSecret(db);
    cache.set(db, p);
    p.catch(() => cache.delete(db));
  }
  return p;
}

async function storedSecret(db: Queryable): Promise<string> {
  // INSERT … ON CONFLICT DO NOTHING then SELECT: two processes racing both end with the first one's key
  await db.query('INSERT INTO instance_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
    NAME,
    randomBytes(32).toString('base64url'),
  ]);
  const r = await db.query<{ value: string }>('SELECT value FROM instance_secrets WHERE name = $1', [NAME]);
  const value = r.rows[0]?.value;
  if (!value) throw new Error(`instance_secrets has no ${NAME} right after it was written`);
  registerSecret(value);
  return value;
}
