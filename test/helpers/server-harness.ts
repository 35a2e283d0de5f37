import { createApiKey, type Scope } from '../../src/api-keys/api-keys.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { DbBackend } from '../../src/db/db.ts';
import { openRunEngine } from '../../src/engine/engine-services.ts';
import type { RunEngine } from '../../src/engine/run-executor.ts';
import { bossSchemaFor } from '../../src/queue/pg-boss-driver.ts';
import { createApp } from '../../src/server/app.ts';
import { HttpMetrics } from '../../src/server/http-metrics.ts';
import { defaultInboundRegistry } from '../../src/webhooks/inbound/default-sources.ts';
import { openTestDb, type TestDb } from './backends.ts';

export const HOOK_ENV = {
  SLUICE_HOOK_RB2B_TOKEN: 'rb2b-test-token',
  SLUICE_HOOK_CLICKUP_SECRET: 'clickup-secret',
  SLUICE_HOOK_HUBSPOT_SECRET: 'hubspot-secret',
  SLUICE_HOOK_GENERIC_SECRET: 'generic-secret',
};

/** The API in-process (`app.request`) on a fresh test database, with a run engine and keys per scope. */
export async function openServerHarness(backend: DbBackend) {
  const db: TestDb = await openTestDb(backend);
  const engine: RunEngine = await openRunEngine(loadConfig({}), db);
  const app = createApp(
    {
      db,
      engine,
      hooks: defaultInboundRegistry(),
      env: HOOK_ENV,
      metrics: new HttpMetrics(),
      callbacks: { allowLoopback: true },
      workers: 0,
      startedAt: new Date(),
      jsonLimitBytes: 64 * 1024,
    },
    { onError: (err) => console.error(err) },
  );
  const key = async (scopes: Scope[]) => (await createApiKey(db, { name: scopes.join('-'), scopes })).key;
  const writeKey = await key(['read', 'write']);
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method,
      headers: {
        authorization: `Bearer ${writeKey}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
  return {
    db,
    engine,
    app,
    key,
    writeKey,
    call,
    async close() {
      await engine.queue.stop();
      if (db.connection)
        await db.exec(`DROP SCHEMA IF EXISTS "${bossSchemaFor(db.connection.schema)}" CASCADE`);
      await db.close();
    },
  };
}

export type ServerHarness = Awaited<ReturnType<typeof openServerHarness>>;
