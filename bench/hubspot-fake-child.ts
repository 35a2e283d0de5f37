/**
 * The HubSpot fake in a process of its own (bench/sync.ts), so the sync under test does not share an
 * event loop with the server that judges its rate: arrival stamps taken in the sender's process lag
 * with the sender's own work, the way a remote CRM's never do. HUBSPOT_FAKE: JSON of the fake's
 * options. Prints {"url": ...} once listening; GET /__stats answers the fake's counters.
 */
import { Hono } from 'hono';
import { createHubSpotFake, type HubSpotFakeOptions } from '../src/sandbox/fakes/crm/hubspot.ts';
import { listen } from '../src/sandbox/fakes/fake-kit.ts';

const fake = createHubSpotFake(JSON.parse(process.env.HUBSPOT_FAKE ?? '{}') as HubSpotFakeOptions);
const app = new Hono();
app.get('/__stats', (c) => c.json({ ...fake.stats, maxSeen: fake.window.maxSeen }));
app.route('/', fake.app);
const server = await listen(app, 0);
process.stdout.write(`${JSON.stringify({ url: server.url, apiKey: fake.apiKey })}\n`);
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
