import type { Db, DbBackend } from '../../src/db/db.ts';
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
  /** Another gateway on the same database, as a second worker process would have. */
  newGateway(overrides?: Partial<GatewayOptions>, db?: Db): GatewayImpl;
  close(): Promise<void>;
}

export async function gatewayFixture(
  backend: DbBackend,
  provider: ProviderDefinition,
  serverOptions: FakeServerOptions = {},
  gatewayOptions: Partial<GatewayOptions> = {},
): Promise<GatewayFixture> {
  const db = await openTestDb(backend);
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
  return {
    db,
    server,
    provider,
    gateway: newGateway(),
    newGateway,
    async close() {
      await server.close();
      await db.close();
    },
  };
}
