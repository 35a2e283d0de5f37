import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import type { Db, DbBackend } from '../../src/db/db.ts';
import { openDb } from '../../src/db/open-db.ts';

/**
 * Every database test runs on PGlite, and also on server PostgreSQL when TEST_DATABASE_URL is set
 * (`.ci/run` sets it). Each opened database is isolated: a fresh in-memory PGlite, or a schema of its
 * own on the server that is dropped on close.
 */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

export const backends: DbBackend[] = TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export interface TestDb extends Db {
  /** For server Postgres: the connection string and schema, to hand to child processes. */
  connection?: { url: string; schema: string };
}

export async function openTestDb(backend: DbBackend, options: { migrate?: boolean } = {}): Promise<TestDb> {
  if (backend === 'pglite') return openDb({ memory: true, migrate: options.migrate });
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is not set');
  const schema = uniqueSchema();
  const db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, migrate: options.migrate });
  const close = db.close;
  return Object.assign(db, {
    connection: { url: TEST_DATABASE_URL, schema },
    close: async () => {
      await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
      await close();
    },
  });
}

/** `describe` once per available backend, titled `title [backend]`. */
export function describeEachBackend(title: string, fn: (backend: DbBackend) => void): void {
  for (const backend of backends) describe(`${title} [${backend}]`, () => fn(backend));
}
