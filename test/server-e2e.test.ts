import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApiKey } from '../src/api-keys/api-keys.ts';
import type { Sandbox } from '../src/sandbox/start-sandbox.ts';
import type { RunningServer } from '../src/server/start-server.ts';
import { parseTriggerConfig } from '../src/triggers/trigger-config.ts';
import { describeEachBackend, openTestDb, type TestDb } from './helpers/backends.ts';
import { startReceiver } from './helpers/callback-receiver.ts';
import { type SandboxServe, startSandboxServe } from './helpers/serve.ts';
import { HOOK_ENV } from './helpers/server-harness.ts';

const RULES = parseTriggerConfig(
  `rules:
  - name: rb2b-visitors
    on: contact.created
    where: source = rb2b
    pipeline: golf-courses
  - name: pending-courses
    on: account.created
    where: status = pending_enrichment
    pipeline: golf-courses
`,
  'sluice.config.yaml',
).rules;

describeEachBackend('sluice serve on a real port, sandbox providers', (backend) => {
  let db: TestDb;
  let serve: SandboxServe;
  let server: RunningServer;
  let sandbox: Sandbox;
  let key: string;
  beforeAll(async () => {
    db = await openTestDb(backend);
    key = (await createApiKey(db, { name: 'e2e', scopes: ['read', 'write'] })).key;
    serve = await startSandboxServe(db, {
      env: HOOK_ENV,
      workers: 8,
      rules: RULES,
      callbacks: { allowLoopback: true },
      pollMs: 200,
    });
    ({ server, sandbox } = serve);
  });
  afterAll(async () => {
    await serve?.stop();
    await db?.close();
  });

  const api = (path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  it('POST /api/enrich-course answers a job id at once; the signed callback carries the seed shape', async () => {
    const receiver = await startReceiver([200]);
    try {
      const course = sandbox.world.courses.find((c) => c.website && c.staffPath)!;
      const res = await api('/api/enrich-course', {
        course_name: course.name,
        state: 'Virginia',
        callback_url: receiver.url,
        course_id: 'c-1',
      });
      expect(res.status).toBe(202);
      const accepted = (await res.json()) as { job_id: string; status: string; webhook_secret: string };
      expect(accepted.status).toBe('processing');
      receiver.setSecret(accepted.webhook_secret);
      const [hit] = await receiver.waitFor(1, 90_000);
      const payload = hit!.verified as {
        type: string;
        job_id: string;
        course_id: string;
        course: Record<string, unknown>;
        contacts: Record<string, unknown>[];
        total_cost: number;
        total_time: number;
      };
      expect(payload).toMatchObject({
        type: 'job.completed',
        job_id: accepted.job_id,
        course_id: 'c-1',
        course: { name: course.name, state: 'VA' },
      });
      expect(payload.total_cost).toBeGreaterThan(0);
      expect(payload.total_time).toBeGreaterThan(0);
      // the website was found without a city, the staff page became contacts, each one enriched
      expect(payload.course.website).toBeTruthy();
      expect(payload.course.segment).toBeTruthy();
      expect(payload.contacts.length).toBeGreaterThan(0);
      expect(payload.contacts.filter((c) => c.email).length).toBeGreaterThan(0);
      for (const c of payload.contacts) {
        expect(c.name).toBeTruthy();
        expect(c.segment).toBe(payload.course.segment);
        expect(typeof c.segment_confidence).toBe('number');
        expect(Object.keys(c.opportunities as object).length).toBeGreaterThan(0);
        expect((c.conversation_starters as unknown[]).length).toBeGreaterThan(0);
      }
      for (const c of payload.contacts)
        expect(Object.keys(c)).toEqual(
          expect.arrayContaining([
            'name',
            'email',
            'phone',
            'linkedin',
            'segment',
            'segment_confidence',
            'opportunities',
            'conversation_starters',
          ]),
        );
      const job = (await (await api(`/v1/jobs/${accepted.job_id}`)).json()) as {
        state: string;
        result: unknown;
      };
      expect(job.state).toBe('completed');
      expect(job.result).toMatchObject({ job_id: accepted.job_id });

      // the read-only views show that job's batch, runs, calls, cache and providers
      const read = async <T>(path: string) => {
        const r = await api(path);
        expect(r.status, path).toBe(200);
        return (await r.json()) as T;
      };
      const batches = await read<{ data: { id: number }[] }>('/v1/batches');
      const batchId = batches.data[0]!.id;
      expect(await read(`/v1/batches/${batchId}`)).toMatchObject({ id: batchId, total: 1 });
      expect((await api('/v1/batches/999999')).status).toBe(404);
      const runs = await read<{ data: { batchId: number; state: string }[] }>(`/v1/runs?batch_id=${batchId}`);
      expect(runs.data).toHaveLength(1);
      expect(['enriched', 'partial']).toContain(runs.data[0]!.state);
      const ledger = await read<{ data: unknown[] }>(`/v1/ledger?batch_id=${batchId}&limit=500`);
      expect(ledger.data.length).toBeGreaterThan(3);
      const providers = await read<{ data: { provider: string }[] }>('/v1/providers/stats');
      expect(providers.data.map((p) => p.provider)).toEqual(expect.arrayContaining(['llm', 'hunter']));
      expect(Array.isArray((await read<{ data: unknown[] }>('/v1/cache/stats')).data)).toBe(true);
      expect(Array.isArray((await read<{ data: unknown[] }>('/v1/dlq')).data)).toBe(true);
      // redrive needs the admin scope; this key has read and write
      expect((await api('/v1/dlq/redrive', { all: true })).status).toBe(403);
    } finally {
      await receiver.close();
    }
  }, 150_000);

  it('an RB2B webhook creates a contact and, by rule, a job; a row INSERTed by SQL starts one too', async () => {
    const res = await fetch(`${server.url}/v1/hooks/rb2b/${HOOK_ENV.SLUICE_HOOK_RB2B_TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        'First Name': 'Ann',
        'Last Name': 'Lee',
        'Business Email': 'ann@fairwaygolf.example',
        'Company Name': 'Fairway Golf',
        Website: 'fairwaygolf.example',
        'LinkedIn URL': 'https://linkedin.com/in/annlee',
        City: 'Richmond',
        State: 'Virginia',
        Zipcode: '23220',
        'Seen At': '2026-01-01T10:00:00Z',
        'Captured URL': 'https://x.example/pricing',
      }),
    });
    expect(res.status).toBe(202);
    await db.query(
      `INSERT INTO accounts (name, state, status) VALUES ('Supabase Inserted CC', 'VA', 'pending_enrichment'), ('Ignored CC', 'VA', 'new')`,
    );
    const deadline = Date.now() + 90_000;
    let jobs: { rule: string; state: string; names: string[] }[] = [];
    while (Date.now() < deadline) {
      jobs = (
        await db.query<{ rule: string; state: string; names: string[] }>(
          `SELECT j.rule, j.state, array_agg(a.name ORDER BY a.name) AS names FROM jobs j JOIN runs r ON r.batch_id = j.batch_id JOIN accounts a ON a.id = r.account_id
            WHERE j.kind = 'rule' GROUP BY j.id, j.rule, j.state ORDER BY j.rule`,
        )
      ).rows;
      if (jobs.length === 2 && jobs.every((j) => j.state !== 'processing')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(jobs).toEqual([
      { rule: 'pending-courses', state: 'completed', names: ['Supabase Inserted CC'] },
      { rule: 'rb2b-visitors', state: 'completed', names: ['Fairway Golf'] },
    ]);
  }, 150_000);

  it('says what each answer cost inside the app (Server-Timing) and exposes the event loop and GC in /metrics', async () => {
    const ids = await db.query<{ id: number }>(
      `INSERT INTO contacts (full_name, email) VALUES ('Timing Person', 'timing@example.com') RETURNING id`,
    );
    const res = await api(`/v1/contacts/${ids.rows[0]!.id}`);
    expect(res.status).toBe(200);
    const timing = res.headers.get('server-timing') ?? '';
    expect(timing).toMatch(/^app;dur=\d+\.\d{3}, db;dur=\d+\.\d{3}$/);
    const [app, dbMs] = [...timing.matchAll(/dur=([\d.]+)/g)].map((m) => Number(m[1]));
    // the database's span is part of the app's
    expect(dbMs!).toBeLessThanOrEqual(app!);
    const missing = await api('/v1/contacts/999999999');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('server-timing')).toMatch(/^app;dur=/);
    // the event-loop sampler ticks every 10 ms: within a second it has samples
    await new Promise((r) => setTimeout(r, 300));
    const metrics = await (await api('/metrics')).text();
    const count = Number(/^sluice_event_loop_delay_seconds_count (\d+)$/m.exec(metrics)?.[1]);
    expect(count).toBeGreaterThan(0);
    expect(metrics).toMatch(/^sluice_event_loop_delay_seconds_bucket\{le="0\.005"\} \d+$/m);
    expect(metrics).toMatch(/^sluice_event_loop_busy_seconds_total [\d.e-]+$/m);
    expect(metrics).toContain('# TYPE sluice_gc_pause_seconds histogram');
    expect(metrics).toMatch(
      /^sluice_http_request_duration_seconds_bucket\{method="GET",route="\/v1\/contacts\/:id",status="200",le="0\.0005"\} \d+$/m,
    );
  });
});
