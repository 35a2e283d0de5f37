import { join } from 'node:path';
import { ConfigError, InfrastructureError } from '../errors.ts';
import type { Db } from './db.ts';
import { acquireDataDirLock } from './lock-file.ts';
import { migrate } from './migrate.ts';
import { scheduleVacuum } from './vacuum.ts';

export interface OpenDbOptions {
  /** Server Postgres connection string; when unset, PGlite in `dataDir`. */
  databaseUrl?: string | undefined;
  /** Embedded database directory (PGlite keeps its files in `<dataDir>/pgdata`). */
  dataDir?: string;
  /** Use an in-memory PGlite (tests); ignores dataDir. */
  memory?: boolean;
  /** Isolate everything in this schema (tests). */
  schema?: string;
  /** Apply migrations (default true). */
  migrate?: boolean;
  /** PGlite vacuum interval in ms (default 1 h); 0 disables. */
  vacuumIntervalMs?: number;
}

/**
 * Opens the database Sluice was configured for and brings its schema up to date. With PGlite, takes the
 * data-dir lock first (one process per data dir) and schedules VACUUM (PGlite has no autovacuum).
 */
export async function openDb(options: OpenDbOptions): Promise<Db> {
  if (options.databaseUrl) {
    let db: Db;
    try {
      // Loaded on demand: each driver costs tens of MB, and a process needs only one.
      const { openPostgresDb } = await import('./postgres-db.ts');
      db = await openPostgresDb({ connectionString: options.databaseUrl, schema: options.schema });
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      if (/unsupported startup parameter: options/.test((err as Error).message)) {
        throw new ConfigError(
          `the connection pooler at ${describeTarget(options.databaseUrl)} rejects the "options" startup parameter that SLUICE_DB_SCHEMA uses: unset SLUICE_DB_SCHEMA (give Sluice a database of its own), or connect to PostgreSQL directly`,
          { exitCode: 2, cause: err },
        );
      }
      throw new InfrastructureError(
        `cannot reach PostgreSQL at ${describeTarget(options.databaseUrl)}: ${(err as Error).message}. ` +
          'Check DATABASE_URL and that the server is running, or unset DATABASE_URL to use the embedded database.',
        { cause: err },
      );
    }
    if (options.migrate !== false) await migrate(db);
    return db;
  }
  const release = options.memory ? () => {} : acquireDataDirLock(options.dataDir ?? '.sluice');
  try {
    const { openPgliteDb } = await import('./pglite-db.ts');
    const db = await openPgliteDb({
      dataDir: options.memory ? undefined : join(options.dataDir ?? '.sluice', 'pgdata'),
      schema: options.schema,
    });
    if (options.migrate !== false) await migrate(db);
    const interval = options.vacuumIntervalMs ?? 60 * 60 * 1000;
    const vacuum = interval > 0 && !options.memory ? await scheduleVacuum(db, interval) : undefined;
    const close = db.close;
    return Object.assign(db, {
      target: options.memory ? 'memory' : (options.dataDir ?? '.sluice'),
      close: async () => {
        vacuum?.stop();
        try {
          await close();
        } finally {
          release();
        }
      },
    });
  } catch (err) {
    release();
    throw err;
  }
}

function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}
