/**
 * Runs the fake provider server in its own process (so the test process's database work cannot
 * delay the server's arrival clock), prints its URL, serves its counters at `GET /__stats`, and exits
 * when stdin closes. Usage: fake-provider-child.ts <FakeServerOptions as JSON>
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { startFakeServer } from './fake-provider.ts';

const fake = await startFakeServer(JSON.parse(process.argv[2] ?? '{}'));
const app = new Hono().get('/__stats', (c) =>
  c.json({ requests: fake.requests, throttled: fake.throttled, maxInFlight: fake.maxInFlight }),
);
const stats = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
await new Promise((resolve) => stats.once('listening', resolve));
process.stdout.write(
  `${JSON.stringify({ url: fake.url, statsUrl: `http://127.0.0.1:${(stats.address() as AddressInfo).port}/__stats` })}\n`,
);
process.stdin.resume();
process.stdin.on('end', async () => {
  stats.close();
  await fake.close();
  process.exit(0);
});
