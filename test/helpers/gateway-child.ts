/**
 * A worker process for the multi-process gateway test: opens the shared server-Postgres schema,
 * makes `count` distinct lookups through its own gateway against the parent's fake server, and prints
 * `ready`, waits for a line on stdin, then prints one JSON line `{ok, throttled, other}`. Usage: gateway-child.ts <dbUrl> <schema> <fakeUrl> <limitsJson> <prefix> <count> [marginMs]
 */
import { openDb } from '../../src/db/open-db.ts';
import { createGateway } from '../../src/engine/gateway.ts';
import { ThrottledError } from '../../src/errors.ts';
import { FAKE_API_KEY, fakeProvider } from './fake-provider.ts';

const [dbUrl, schema, fakeUrl, limitsJson, prefix, countArg, marginArg] = process.argv.slice(2);
const db = await openDb({ databaseUrl: dbUrl, schema, migrate: false });
const provider = fakeProvider({ limits: JSON.parse(limitsJson!) });
const gateway = createGateway({
  db,
  providers: (id) => (id === provider.id ? provider : undefined),
  env: { FAKE_API_KEY, SLUICE_FAKE_BASE_URL: fakeUrl },
  maxWaitMs: 30_000,
  limitMarginMs: marginArg ? Number(marginArg) : undefined,
});
const count = Number(countArg);
// Start together and warm (no module compilation or first connection while others are calling):
// the test is about steady concurrent workers, not about three cold starts on a two-core machine.
for (let i = 0; i < 3; i++) await fetch(`${fakeUrl}/health`).then((r) => r.text());
process.stdout.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
let ok = 0;
let throttled = 0;
let other = 0;
let next = 0;
await Promise.all(
  Array.from({ length: 6 }, async () => {
    while (next < count) {
      const i = next++;
      try {
        await gateway.call({ provider: 'fake', operation: 'lookup', input: { q: `${prefix}-${i}` } });
        ok++;
      } catch (err) {
        if (err instanceof ThrottledError) throttled++;
        else {
          other++;
          process.stderr.write(`${String(err)}\n`);
        }
      }
    }
  }),
);
await db.close();
process.stdout.write(`${JSON.stringify({ ok, throttled, other })}\n`);
