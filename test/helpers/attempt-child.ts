/**
 * One gateway in its own process, for the durable-attempt tests (test/attempts.test.ts). Configured
 * by environment:
 *   DATABASE_URL + SLUICE_DB_SCHEMA, or SLUICE_DATA_DIR   the database
 *   FAKE_URL     the fake provider server;  PRICE_USD   its price (default 0.01)
 *   QUERY        the lookup to make;        BATCH_ID    its batch (optional)
 *   INFLIGHT_TTL_MS   lease of markers and attempt rows
 *   HANG_AFTER_ANSWER=1   once the provider's answer arrived, stop before anything is recorded (the
 *                         test SIGKILLs the process there)
 * Prints JSON lines: `ready` (then waits for a line on stdin), `answered` (HANG mode), `done` with
 * the call's outcome, or `error`.
 */
import { openDb } from '../../src/db/open-db.ts';
import { createGateway } from '../../src/engine/gateway.ts';
import { fakeEnv, fakeProvider } from './fake-provider.ts';

const env = process.env;
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
const db = await openDb({
  databaseUrl: env.DATABASE_URL,
  dataDir: env.SLUICE_DATA_DIR,
  ...(env.SLUICE_DB_SCHEMA ? { schema: env.SLUICE_DB_SCHEMA } : {}),
  migrate: !env.DATABASE_URL,
  vacuumIntervalMs: 0,
});
const provider = fakeProvider({ priceUsd: Number(env.PRICE_USD ?? 0.01), timeoutMs: 30_000 });
const hang = env.HANG_AFTER_ANSWER === '1';
const gateway = createGateway({
  db,
  providers: (id) => (id === provider.id ? provider : undefined),
  env: fakeEnv({ url: env.FAKE_URL! }),
  inflightTtlMs: Number(env.INFLIGHT_TTL_MS ?? 30_000),
  fetch: async (url, init) => {
    const res = await fetch(url, init);
    if (!hang) return res;
    await res.text();
    emit({ event: 'answered', owner: gateway.owner });
    return new Promise<Response>(() => {});
  },
});
await fetch(`${env.FAKE_URL}/health`).then((r) => r.text());
emit({ event: 'ready', pid: process.pid, owner: gateway.owner });
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
try {
  const outcome = await gateway.call({
    provider: 'fake',
    operation: 'lookup',
    input: { q: env.QUERY ?? 'acme' },
    ...(env.BATCH_ID ? { batchId: Number(env.BATCH_ID) } : {}),
  });
  emit({ event: 'done', outcome, renewals: gateway.lease.renewals });
} catch (err) {
  emit({ event: 'error', message: (err as Error).message });
}
await db.close();
process.exit(0);
