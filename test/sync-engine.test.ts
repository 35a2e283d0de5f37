import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { createDestinationClient } from '../src/crm/destination-client.ts';
import { hubspot } from '../src/crm/hubspot/index.ts';
import type { Db } from '../src/db/db.ts';
import { writeFieldValues } from '../src/records/field-values.ts';
import { type ClickUpFake, createClickUpFake } from '../src/sandbox/fakes/crm/clickup.ts';
import { createGoHighLevelFake } from '../src/sandbox/fakes/crm/gohighlevel.ts';
import { listen, type RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import { loadSync, SYNCS_DIR } from '../src/sync/load-sync.ts';
import { pollSync } from '../src/sync/poll-sync.ts';
import { runSync } from '../src/sync/run-sync.ts';
import { describeEachBackend, openTestDb, TEST_DATABASE_URL } from './helpers/backends.ts';
import { type SharedDb, sharedDb } from './helpers/shared-db.ts';
import { emptySyncDb, seedGolf, serveFake } from './helpers/sync-fixtures.ts';

const CHILD = fileURLToPath(new URL('./helpers/sync-child.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spawnSync(env: Record<string, string>, args: string[]) {
  const p = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  }) as ChildProcessWithoutNullStreams;
  let out = '';
  let err = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  p.stdout.on('data', (d) => {
    out += d;
    if (out.startsWith('ready\n')) onReady();
  });
  p.stderr.on('data', (d) => (err += d));
  const exit = new Promise<{ code: number | null; signal: string | null; out: string; err: string }>(
    (resolve) =>
      p.on('exit', (code, signal) => resolve({ code, signal, out: out.slice('ready\n'.length), err })),
  );
  return { p, ready, exit, go: () => p.stdin.end('go\n') };
}

describeEachBackend('sync engine: crashes, processes, throttles', (backend) => {
  let shared: SharedDb;
  let fake: ClickUpFake;
  let server: RunningServer;
  let child: ReturnType<typeof spawnSync> | undefined;
  /** Kills the child (kill -9) when the fake has just applied this request, before it answers. */
  let killOn: ((method: string, path: string) => boolean) | undefined;
  beforeEach(async () => {
    shared = sharedDb(backend);
    fake = createClickUpFake({ perMinute: 1000 });
    const outer = new Hono();
    outer.all('*', async (c) => {
      const res = await fake.app.fetch(c.req.raw);
      if (killOn?.(c.req.method, new URL(c.req.url).pathname)) {
        killOn = undefined;
        child?.p.kill('SIGKILL');
        await sleep(300);
      }
      return res;
    });
    server = await listen(outer, 0);
  });
  afterEach(async () => {
    child?.p.kill('SIGKILL');
    await server.close();
    await shared.cleanup();
  });
  const env = () => ({ CLICKUP_API_KEY: fake.apiKey, SLUICE_CLICKUP_RATE_LIMIT: '1000/min' });
  const crashOnce = async (when: (method: string, path: string) => boolean) => {
    let n = 0;
    killOn = (m, p) => when(m, p) && ++n >= 1;
    child = spawnSync(shared.env, ['golf-courses-clickup', server.url, JSON.stringify(env())]);
    await child.ready;
    child.go();
    const r = await child.exit;
    expect(r.signal, r.err).toBe('SIGKILL');
  };

  it('kill -9 in the middle of a sync, then resume: no duplicate task, no lost update', async () => {
    let db = await shared.open();
    const { contacts } = await seedGolf(db, 4, 2);
    await db.close();
    // killed right after ClickUp made the 3rd task, before its answer came back
    let creates = 0;
    await crashOnce((m, p) => m === 'POST' && /^\/list\/\d+\/task$/.test(p) && ++creates === 3);
    const madeBeforeCrash = fake.tasks.size;
    expect(madeBeforeCrash).toBeGreaterThanOrEqual(3);
    expect(madeBeforeCrash).toBeLessThan(8);
    db = await shared.open();
    const open = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sync_outbox WHERE state <> 'done'`,
    );
    expect(open.rows[0]!.n).toBeGreaterThanOrEqual(1); // the create whose answer was lost
    const resumed = await runSync({
      db,
      def: await loadSync('golf-courses-clickup'),
      env: env(),
      baseUrl: server.url,
    });
    expect(resumed.counts).toMatchObject({ retryable: 0, permanent: 0 });
    expect(fake.tasks.size).toBe(8);
    const keys = [...fake.tasks.values()].map((t) =>
      [...t.custom.values()].find((v) => String(v).startsWith('sluice:')),
    );
    expect(new Set(keys).size).toBe(8);

    // new phones for everyone; killed after the 3rd field write of the update pass
    await db.transaction((tx) =>
      writeFieldValues(
        tx,
        contacts.map((id) => ({
          entityType: 'contact' as const,
          entityId: id,
          field: 'phone',
          value: `+1919555${1000 + id}`,
          source: 'manual' as const,
        })),
      ),
    );
    await db.close();
    let writes = 0;
    await crashOnce((m, p) => m === 'POST' && /^\/task\/[^/]+\/field\//.test(p) && ++writes === 3);
    db = await shared.open();
    await runSync({ db, def: await loadSync('golf-courses-clickup'), env: env(), baseUrl: server.url });
    for (const t of fake.tasks.values()) {
      const list = fake.lists.find((l) => l.id === t.listId)!;
      const phone = t.custom.get(list.fields.find((f) => f.name === 'Phone')!.id);
      const id = Number(
        String(t.custom.get(list.fields.find((f) => f.name === 'sluice_id')!.id)).split(':')[2],
      );
      expect(phone).toBe(`+1919555${1000 + id}`);
    }
    expect(fake.tasks.size).toBe(8);
    await db.close();
  }, 120_000);

  it.skipIf(backend !== 'postgres' || !TEST_DATABASE_URL)(
    'three processes syncing at once never exceed the limit (GoHighLevel, 10 per 2 s)',
    async () => {
      const ghl = createGoHighLevelFake({ per10s: 10, windowMs: 2_000 });
      const ghlServer = await serveFake(ghl.app);
      try {
        const db = await shared.open();
        const { contacts } = await seedGolf(db, 3, 4);
        await db.close();
        const ghlEnv = {
          GHL_API_KEY: ghl.apiKey,
          GHL_LOCATION_ID: ghl.locationId,
          SLUICE_GOHIGHLEVEL_RATE_LIMIT: '10/2s',
        };
        const kids = [0, 1, 2].map((i) =>
          spawnSync(shared.env, [
            'golf-courses-gohighlevel',
            ghlServer.url,
            JSON.stringify(ghlEnv),
            contacts.slice(i * 4, i * 4 + 4).join(','),
          ]),
        );
        await Promise.all(kids.map((k) => k.ready));
        const warm = ghl.stats.requests;
        for (const k of kids) k.go();
        const results = await Promise.all(kids.map((k) => k.exit));
        for (const r of results) expect(r.code, r.err).toBe(0);
        expect(results.map((r) => JSON.parse(r.out).created)).toEqual([4, 4, 4]);
        expect(ghl.contacts.size).toBe(12);
        // each: connect (custom fields, users, pipelines), 4 contact upserts, 4 opportunity upserts
        expect(ghl.stats.requests - warm).toBe(3 * (3 + 4 + 4));
        expect(ghl.stats.throttled).toBe(0);
        expect(ghl.window.maxSeen).toBeLessThanOrEqual(10);
      } finally {
        await ghlServer.close();
      }
    },
    120_000,
  );
});

describeEachBackend('sync engine: throttles and write rules', (backend) => {
  let db: Db;
  let fake: ClickUpFake;
  let server: RunningServer;
  let rulesFile: string;
  beforeAll(async () => {
    db = await openTestDb(backend);
    const text = await readFile(join(SYNCS_DIR, 'golf-courses-clickup.yaml'), 'utf8');
    rulesFile = join(tmpdir(), `golf-rules-${process.pid}.yaml`);
    await writeFile(
      rulesFile,
      text
        .replace('name: golf-courses-clickup', 'name: golf-rules-clickup')
        .replace(
          'value: "{{contact.phone}}"\n    rule: two-way',
          'value: "{{contact.phone}}"\n    rule: two-way\n    nulls: clear',
        )
        .replace(
          "- to: Top Opp 2\n    value: \"{{ranked(account, 'opportunity_')[1].name}} ({{ranked(account, 'opportunity_')[1].score}}/10)\"",
          '- to: Top Opp 2\n    value: "{{ranked(account, \'opportunity_\')[1].name}}"\n    rule: never',
        ),
    );
  });
  afterAll(async () => {
    await server?.close();
    await db.close();
  });
  beforeEach(async () => {
    await emptySyncDb(db);
    await server?.close();
    fake = createClickUpFake({ perMinute: 1000 });
    server = await serveFake(fake.app);
  });
  const env = () => ({ CLICKUP_API_KEY: fake.apiKey, SLUICE_CLICKUP_RATE_LIMIT: '1000/min' });
  const sync = async () => runSync({ db, def: await loadSync(rulesFile), env: env(), baseUrl: server.url });
  const set = (entityId: number, field: string, value: unknown) =>
    db.transaction((tx) =>
      writeFieldValues(tx, [{ entityType: 'contact', entityId, field, value, source: 'manual' }]),
    );
  const field = (t: { listId: string; custom: Map<string, unknown> }, name: string) =>
    t.custom.get(fake.lists.find((l) => l.id === t.listId)!.fields.find((f) => f.name === name)!.id);

  it('429s are waited out as Retry-After says and never use up attempts; a 503 does (maxAttempts 1)', async () => {
    let calls = 0;
    const app = new Hono();
    app.get('/crm/v3/thing', (c) => {
      calls++;
      if (calls <= 2) {
        c.header('retry-after', '1');
        return c.json(
          {
            status: 'error',
            errorType: 'RATE_LIMIT',
            policyName: 'TEN_SECONDLY_ROLLING',
            message: 'slow down',
          },
          429,
        );
      }
      return c.json({ ok: true });
    });
    app.get('/crm/v3/down', (c) => c.json({ status: 'error', message: 'down' }, 503));
    const s = await listen(app, 0);
    try {
      const stats = { requests: 0, throttled: 0 };
      const client = createDestinationClient(hubspot, {
        db,
        env: { HUBSPOT_ACCESS_TOKEN: 'pat-x', SLUICE_HUBSPOT_RATE_LIMIT: '1000/10s' },
        baseUrl: s.url,
        maxAttempts: 1,
        stats,
      });
      const t0 = Date.now();
      const res = await client.request({ method: 'GET', path: '/crm/v3/thing' }, { idempotent: true });
      expect(res.body).toEqual({ ok: true });
      expect(stats).toEqual({ requests: 3, throttled: 2 });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1_900); // two Retry-After: 1 waits
      await expect(
        client.request({ method: 'GET', path: '/crm/v3/down' }, { idempotent: true }),
      ).rejects.toThrow(/503/);
    } finally {
      await s.close();
    }
  });

  it('write rules: never is not written; only-if-blank fills a blank but never overwrites what the CRM holds; a null clears only with nulls: clear', async () => {
    const { contacts } = await seedGolf(db, 1, 2);
    await set(contacts[1]!, 'linkedin_url', 'https://linkedin.com/in/second');
    await sync();
    const [a, b] = contacts.map(
      (id) => [...fake.tasks.values()].find((t) => [...t.custom.values()].includes(`sluice:contact:${id}`))!,
    );
    expect(field(a!, 'Top Opp 2')).toBeUndefined(); // rule: never
    expect(field(a!, 'LinkedIn')).toBeUndefined();
    expect(field(b!, 'LinkedIn')).toBe('https://linkedin.com/in/second');

    // a rep fills the first one's LinkedIn; the poll tells Sluice
    await fake.repEdit(a!.id, { LinkedIn: 'https://linkedin.com/in/reps-pick' });
    await pollSync({ db, def: await loadSync(rulesFile), env: env(), baseUrl: server.url });
    await set(contacts[0]!, 'linkedin_url', 'https://linkedin.com/in/enriched');
    await set(contacts[1]!, 'linkedin_url', 'https://linkedin.com/in/changed');
    const r = await sync();
    expect(r.counts).toMatchObject({ updated: 0, unchanged: 2 });
    expect(field(a!, 'LinkedIn')).toBe('https://linkedin.com/in/reps-pick');
    expect(field(b!, 'LinkedIn')).toBe('https://linkedin.com/in/second');

    // nulls: clear on Phone → the field is cleared
    await set(contacts[0]!, 'phone', null);
    const before = fake.stats.byRoute['DELETE /task/:id/field/:id'] ?? 0;
    await sync();
    expect((fake.stats.byRoute['DELETE /task/:id/field/:id'] ?? 0) - before).toBe(1);
    expect(field(a!, 'Phone')).toBeUndefined();
  });
});
