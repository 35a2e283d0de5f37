import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.ts';

/** `migrations/` at the package root, from `src/db/` (tsx) or `dist/db/` (built). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Any stable number: serialises concurrent migrators on one server. */
const MIGRATION_LOCK_KEY = 7_301_355_621;

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (f) => ({
      id: Number.parseInt(f.slice(0, 4), 10),
      name: f.replace(/\.sql$/, ''),
      sql: await readFile(`${dir}/${f}`, 'utf8'),
    })),
  );
}

/**
 * Applies pending migrations, each in its own transaction with its record in `sluice_migrations`.
 * The same files run on PGlite and on server Postgres. Returns the names applied.
 */
export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await loadMigrations(dir);
  await db.exec(`CREATE TABLE IF NOT EXISTS sluice_migrations (
    id integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  // one read first: on an up-to-date database (every command opens one) that is all, instead of a
  // transaction per migration; pending ones are still checked again under the lock below
  const recorded = new Set(
    (await db.query<{ id: number }>('SELECT id FROM sluice_migrations')).rows.map((r) => Number(r.id)),
  );
  const applied: string[] = [];
  for (const m of migrations) {
    if (recorded.has(m.id)) continue;
    const done = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      const seen = await tx.query('SELECT 1 FROM sluice_migrations WHERE id = $1', [m.id]);
      if (seen.rows.length > 0) return false;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO sluice_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
      return true;
    });
    if (done) applied.push(m.name);
  }
  return applied;
}
