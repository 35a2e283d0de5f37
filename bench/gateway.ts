/**
 * Gateway overhead: calls/s through the whole gateway (validation, cache, coalescing, budget check,
 * ledger) with instant, unlimited providers, on each backend. Prints a table and one JSON line.
 *
 *   npx tsx bench/gateway.ts            # PGlite, plus server Postgres when DATABASE_URL or TEST_DATABASE_URL is set
 *   BENCH_CALLS=20000 npx tsx bench/gateway.ts
 */
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { z } from 'zod';
import type { Db } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { createGateway } from '../src/engine/gateway.ts';
import { setBatchBudget } from '../src/limits/budget.ts';
import {
  defineOperation,
  defineProvider,
  type ProviderDefinition,
} from '../src/providers/define-provider.ts';

const CALLS = Number(process.env.BENCH_CALLS ?? 5_000);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 32);
const pgUrl = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;

const app = new Hono().get('/v', (c) => c.json({ value: c.req.query('q') }));
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
await new Promise((r) => server.once('listening', r));
const httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const io = { input: z.object({ q: z.string() }), output: z.object({ value: z.string() }) };
const provider: ProviderDefinition = defineProvider({
  id: 'instant',
  name: 'Instant',
  baseUrl: httpUrl,
  limits: [],
  concurrency: Number.POSITIVE_INFINITY,
  operations: {
    // No HTTP at all: measures the gateway alone.
    memory: defineOperation({
      ...io,
      description: 'answers at once',
      priceUsd: 0.001,
      run: async (_ctx, input) => ({ found: true, output: { value: input.q }, costUsd: 0.001 }),
    }),
    // A local HTTP server answering at once: the gateway plus a real request.
    http: defineOperation({
      ...io,
      description: 'answers over local HTTP',
      priceUsd: 0.001,
      run: async (ctx, input) => {
        const res = await ctx.request({ method: 'GET', path: '/v', query: { q: input.q } });
        return { found: true, output: res.body as { value: string }, costUsd: 0.001 };
      },
    }),
  },
});

async function measure(db: Db, operation: string, prefix: string, batchId?: number): Promise<number> {
  const gateway = createGateway({ db, providers: (id) => (id === provider.id ? provider : undefined) });
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < CALLS) {
        const i = next++;
        await gateway.call({
          provider: 'instant',
          operation,
          input: { q: `${prefix}${i}` },
          runId: i,
          batchId,
        });
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  cpuRates.push(CALLS / ((cpu.user + cpu.system) / 1e6));
  return CALLS / wall;
}
/** Calls per CPU-second of this process: on a busy machine, what PGlite (in-process) would do alone. */
const cpuRates: number[] = [];

const results: Record<string, number> = {};
const rows: string[][] = [];
for (const backend of pgUrl ? ['pglite', 'postgres'] : ['pglite']) {
  const schema = `bench_gw_${Date.now()}`;
  const db =
    backend === 'pglite' ? await openDb({ memory: true }) : await openDb({ databaseUrl: pgUrl, schema });
  try {
    const miss = await measure(db, 'memory', 'a');
    const hit = await measure(db, 'memory', 'a');
    await setBatchBudget(db, 1, 1_000_000);
    const budget = await measure(db, 'memory', 'b', 1);
    const http = await measure(db, 'http', 'c');
    const tag = backend === 'pglite' ? 'pglite' : 'pg';
    if (backend === 'pglite') results.miss_calls_per_cpu_s_pglite = Math.round(cpuRates.at(-4)!);
    Object.assign(results, {
      [`miss_calls_per_s_${tag}`]: Math.round(miss),
      [`hit_calls_per_s_${tag}`]: Math.round(hit),
      [`budget_miss_calls_per_s_${tag}`]: Math.round(budget),
      [`http_miss_calls_per_s_${tag}`]: Math.round(http),
    });
    rows.push([backend, ...[miss, hit, budget, http].map((v) => String(Math.round(v)))]);
  } finally {
    if (backend === 'postgres') await db.exec(`DROP SCHEMA "${schema}" CASCADE`);
    await db.close();
  }
}
server.close();

const header = ['backend', 'miss/s', 'hit/s', 'miss+budget/s', 'miss+http/s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const fmt = (r: string[]) => r.map((c, i) => c.padStart(widths[i]!)).join('  ');
console.log(`gateway overhead: ${CALLS} calls, ${PARALLEL} in parallel, instant unlimited provider`);
console.log(fmt(header));
console.log(`(load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores while measuring)`);
for (const r of rows) console.log(fmt(r));
console.log(JSON.stringify({ calls: CALLS, parallel: PARALLEL, ...results }));
