import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Db, DbBackend } from '../../src/db/db.ts';
import { openDb } from '../../src/db/open-db.ts';
import { createGateway, type GatewayImpl, type GatewayOptions } from '../../src/engine/gateway.ts';
import type { ProviderDefinition } from '../../src/providers/define-provider.ts';
import { openTestDb, type TestDb } from './backends.ts';
import { type FakeServer, type FakeServerOptions, fakeEnv, startFakeServer } from './fake-provider.ts';

/** A test database, a fake server and a gateway wired to them; `close()` tears all down. */
export interface GatewayFixture {
  db: TestDb;
  server: FakeServer;
  provider: ProviderDefinition;
  gateway: GatewayImpl;
  /** Another gateway (on `db`, default the fixture's database). */
  newGateway(overrides?: Partial<GatewayOptions>, db?: Db): GatewayImpl;
  /**
   * A gateway as another worker process would have it: on server Postgres its own connection pool
   * to the same schema; on PGlite (one process per data dir) the same database.
   */
  otherWorker(overrides?: Partial<GatewayOptions>): Promise<GatewayImpl>;
  close(): Promise<void>;
}

/**
 * One database for all tests of a `describe` (opening PGlite and migrating costs a second or more),
 * emptied of the gateway's state after each test.
 */
export function sharedGatewayDb(backend: DbBackend): () => TestDb {
  let db: TestDb | undefined;
  beforeAll(async () => {
    db = await openTestDb(backend);
  });
  afterEach(async () => {
    await db?.exec(
      'TRUNCATE cache_entries, cache_inflight, ledger, budgets, rate_limits, rate_log, concurrency_slots, provider_state, call_attempts RESTART IDENTITY',
    );
  });
  afterAll(async () => {
    await db?.close();
  });
  return () => {
    if (!db) throw new Error('sharedGatewayDb: the database is not open yet');
    return db;
  };
}

export async function gatewayFixture(
  database: DbBackend | TestDb,
  provider: ProviderDefinition,
  serverOptions: FakeServerOptions = {},
  gatewayOptions: Partial<GatewayOptions> = {},
): Promise<GatewayFixture> {
  const owned = typeof database === 'string';
  const db = typeof database === 'string' ? await openTestDb(database) : database;
  const server = await startFakeServer(serverOptions);
  const newGateway = (overrides: Partial<GatewayOptions> = {}, on: Db = db) =>
    createGateway({
      db: on,
      providers: (id) => (id === provider.id ? provider : undefined),
      env: fakeEnv(server, provider.id),
      backoff: { baseMs: 10, capMs: 50 },
      ...gatewayOptions,
      ...overrides,
    });
  const extra: Db[] = [];
  return {
    db,
    server,
    provider,
    gateway: newGateway(),
    newGateway,
    async otherWorker(overrides = {}) {
      if (!db.connection) return newGateway(overrides);
      const other = await openDb({
        databaseUrl: db.connection.url,
        schema: db.connection.schema,
        migrate: false,
      });
      extra.push(other);
      return newGateway(overrides, other);
    },
    async close() {
      await server.close();
      for (const d of extra) await d.close();
      if (owned) await db.close();
    },
  };
}
