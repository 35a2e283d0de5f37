/**
 * The fake limited APIs in a process of their own, so the worker under test does not share an event
 * loop with the server that judges its rate (arrival stamps would lag with the worker's load).
 * FAKE_SPEC: JSON {id: {ratePerSecond?, latencyMs?, notFoundEvery?, windows?}}; `notFoundEvery: 5` answers 404
 * for `acct-<n>` when n % 5 === 0. Prints {"url": ...} once listening; GET /__stats for counters.
 */
import { type FakeApiSpec, startFakeLimitedServer } from '../test/helpers/fake-limited-server.ts';

const spec = JSON.parse(process.env.FAKE_SPEC ?? '{}') as Record<
  string,
  { ratePerSecond?: number; latencyMs?: number; notFoundEvery?: number; windows?: FakeApiSpec['windows'] }
>;
const apis: Record<string, FakeApiSpec> = {};
for (const [id, s] of Object.entries(spec)) {
  const every = s.notFoundEvery;
  apis[id] = {
    ...(s.ratePerSecond ? { ratePerSecond: s.ratePerSecond } : {}),
    ...(s.latencyMs ? { latencyMs: s.latencyMs } : {}),
    ...(s.windows ? { windows: s.windows } : {}),
    ...(every ? { notFound: (q: string) => Number(/(\d+)/.exec(q)?.[1] ?? 1) % every === 0 } : {}),
  };
}
const server = await startFakeLimitedServer(apis);
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
