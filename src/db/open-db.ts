import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
  if (!options.memory) checkDataDir(options.dataDir ?? '.sluice');
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

const DATA_DIR_FIX =
  'pass a writable directory with --data-dir or SLUICE_DATA_DIR (default ./.sluice), or set DATABASE_URL to use server PostgreSQL';

/**
 * Fails fast, naming the path and the fix, when the embedded database cannot live in `dir`: a special
 * filesystem (/proc, /sys, /dev: PGlite would hang there), a file, a directory that cannot be created
 * or written. Creates the directory when it is missing.
 */
export function checkDataDir(dir: string): void {
  const abs = resolve(dir);
  const bad = (what: string, cause?: unknown) =>
    new ConfigError(`data dir ${abs} ${what}; ${DATA_DIR_FIX}`, { exitCode: 2, cause });
  if (/^\/(proc|sys|dev)(\/|$)/.test(abs))
    throw bad('is on a special filesystem (/proc, /sys or /dev), not storage');
  let isDir: boolean;
  try {
    isDir = statSync(abs).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw bad('is inside a file, not a directory', err);
    if (code === 'EACCES') throw bad('cannot be reached: permission denied on a parent directory', err);
    if (code !== 'ENOENT') throw bad(`cannot be read (${code})`, err);
    try {
      mkdirSync(abs, { recursive: true });
    } catch (mkErr) {
      const c = (mkErr as NodeJS.ErrnoException).code;
      const why =
        c === 'EACCES' || c === 'EPERM'
          ? 'cannot be created: permission denied'
          : c === 'EROFS'
            ? 'cannot be created: read-only filesystem'
            : c === 'ENOTDIR' || c === 'EEXIST'
              ? 'cannot be created: a parent is a file'
              : `cannot be created (${c})`;
      throw bad(why, mkErr);
    }
    isDir = true;
  }
  if (!isDir) throw bad('is a file, not a directory');
  try {
    accessSync(abs, constants.W_OK | constants.R_OK | constants.X_OK);
  } catch (err) {
    throw bad(
      'is not writable by this user (fix its permissions, e.g. chown/chmod, or use another directory)',
      err,
    );
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
