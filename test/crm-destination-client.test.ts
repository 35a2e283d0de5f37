import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createDestinationClient } from '../src/crm/destination-client.ts';
import { getDestination } from '../src/crm/registry.ts';
import type { Db } from '../src/db/db.ts';
import { bookRate, limitWindows, sentRate } from '../src/limits/sliding-window.ts';
import { createGoHighLevelFake } from '../src/sandbox/fakes/crm/gohighlevel.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { serveFake } from './helpers/sync-fixtures.ts';

/**
 * The CRM destination client's places in the shared limiter: a request whose answer came back late
 * (it queued at the CRM) has its place moved to the answer's time, so the request booked a window
 * after it cannot land in the same window of the CRM's count.
 */
describeEachBackend('CRM destination client and the limiter', (backend) => {
  let db: Db;
  beforeAll(async () => {
    db = await openTestDb(backend);
  });
  afterAll(async () => {
    await db.close();
  });
  beforeEach(async () => {
    await db.exec('TRUNCATE rate_limits, rate_log');
  });

  it('a used place moves later to its answer, never earlier; the next booking counts from there', async () => {
    const windows = limitWindows('acct', 'write', [{ limit: 1, windowMs: 1_000 }], undefined, 0);
    const a = await bookRate(db, windows, { maxWaitMs: 5_000 });
    expect(a.granted).toBe(true);
    await sentRate(db, [{ booking: a, atMs: a.atMs! + 600 }]);
    await sentRate(db, [{ booking: a, atMs: a.atMs! + 100 }]); // earlier: ignored
    const b = await bookRate(db, windows, { maxWaitMs: 5_000 });
    expect(b.atMs! - a.atMs!).toBeGreaterThanOrEqual(1_600);
  });

  it("the request a window after a slow one waits from the slow one's answer, not from its place", async () => {
    // 2 per second; each answer takes 400 ms after the request arrived
    const fake = createGoHighLevelFake({ per10s: 2, windowMs: 1_000, latencyMs: 400 });
    const server = await serveFake(fake.app);
    try {
      const env = {
        GHL_API_KEY: fake.apiKey,
        GHL_LOCATION_ID: fake.locationId,
        SLUICE_GOHIGHLEVEL_RATE_LIMIT: '2/1s',
      };
      const client = createDestinationClient(getDestination('gohighlevel'), { db, env, baseUrl: server.url });
      const get = () =>
        client.request(
          { method: 'GET', path: `/locations/${fake.locationId}/customFields` },
          { idempotent: true },
        );
      await Promise.all([get(), get()]);
      await get(); // booked after both answers: a window after the first answer, not its place
      const [first, , third] = fake.stats.arrivals;
      expect(third! - first!).toBeGreaterThanOrEqual(1_400);
      expect(fake.stats.throttled).toBe(0);
    } finally {
      await server.close();
    }
  }, 30_000);
});
