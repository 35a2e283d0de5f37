import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DbBackend } from '../../src/db/db.ts';
import { openDb } from '../../src/db/open-db.ts';
import { bossSchemaFor } from '../../src/queue/pg-boss-driver.ts';
import { TEST_DATABASE_URL, uniqueSchema } from './backends.ts';

/**
 * A database child processes (workers, the CLI) can open too: a PGlite data dir (one process at a
 * time: close it before a child opens it), or a fresh schema on the server. `env` is what the child
 * needs; `cleanup` removes everything, pg-boss's schema included.
 */
export function sharedDb(backend: DbBackend) {
  if (backend === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
    return {
      env: { SLUICE_DATA_DIR: dir } as Record<string, string>,
      open: () => openDb({ dataDir: dir, vacuumIntervalMs: 0 }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is not set');
  const url = TEST_DATABASE_URL;
  const schema = uniqueSchema('w');
  return {
    env: { DATABASE_URL: url, SLUICE_DB_SCHEMA: schema } as Record<string, string>,
    open: () => openDb({ databaseUrl: url, schema }),
    cleanup: async () => {
      const db = await openDb({ databaseUrl: url, migrate: false });
      await db.exec(
        `DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${bossSchemaFor(schema)}" CASCADE`,
      );
      await db.close();
    },
  };
}

export type SharedDb = ReturnType<typeof sharedDb>;
