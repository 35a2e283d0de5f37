import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { Db, DbBackend, Queryable } from '../../src/db/db.ts';
import { openTestDb } from './backends.ts';

/** Empties the record tables of a test database and restarts their ids: a fresh database, fast. */
export async function emptyDb(db: Queryable): Promise<void> {
  await db.exec('TRUNCATE accounts, contacts, field_values, imports RESTART IDENTITY CASCADE');
}

/**
 * One database per backend for a whole `describe`, emptied before each test (opening and migrating one
 * per test is slow). Returns a handle that forwards to it; call at the top of the `describe`.
 */
export function emptiedTestDb(backend: DbBackend): Db {
  let real: Db | undefined;
  beforeAll(async () => {
    real = await openTestDb(backend);
  });
  beforeEach(async () => {
    await emptyDb(current());
  });
  afterAll(async () => {
    await real?.close();
  });
  const current = (): Db => {
    if (!real) throw new Error('the test database is used outside a test');
    return real;
  };
  return {
    backend,
    get target() {
      return current().target;
    },
    get schema() {
      return current().schema;
    },
    query: (text, params) => current().query(text, params),
    exec: (sql) => current().exec(sql),
    transaction: (fn) => current().transaction(fn),
    close: async () => {}, // closed by afterAll
  };
}
