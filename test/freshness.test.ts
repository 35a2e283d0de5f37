import { afterAll, beforeAll, expect, it } from 'vitest';
import { sandboxProviders } from '../src/demo/sandbox-providers.ts';
import { cachedPipelineResolver } from '../src/engine/engine-services.ts';
import { createGateway } from '../src/engine/gateway.ts';
import type { RunEngine } from '../src/engine/run-executor.ts';
import { openRunQueue } from '../src/engine/run-queue.ts';
import { listPasses, passChanges } from '../src/freshness/freshness-report.ts';
import { runFreshness } from '../src/freshness/run-freshness.ts';
import { completePersonName, personNameKey } from '../src/normalize/person-name.ts';
import { bossSchemaFor } from '../src/queue/pg-boss-driver.ts';
import { readLineage } from '../src/records/lineage.ts';
import { type ClickUpFake, createClickUpFake } from '../src/sandbox/fakes/crm/clickup.ts';
import { listen, type RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import { advanceMonth } from '../src/sandbox/month-advance.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/start-sandbox.ts';
import type { Company } from '../src/sandbox/world.ts';
import { loadSync } from '../src/sync/load-sync.ts';
import { runSync } from '../src/sync/run-sync.ts';
import { describeEachBackend, openTestDb, type TestDb } from './helpers/backends.ts';

const PIPELINE = 'test/fixtures/freshness-replacements.yaml';

describeEachBackend('freshness', (backend) => {
  let db: TestDb;
  let sandbox: Sandbox;
  let engine: RunEngine;
  let clickup: ClickUpFake;
  let server: RunningServer;
  let env: Record<string, string | undefined>;
  const day = 86_400_000;
  let changedCourses: Company[];
  beforeAll(async () => {
    db = await openTestDb(backend);
    sandbox = await startSandbox({ seed: 1, fakes: { latencyScale: 0 } });
    clickup = createClickUpFake({ perMinute: 6_000 });
    server = await listen(clickup.app, 0);
    env = {
      ...sandbox.env,
      CLICKUP_API_KEY: clickup.apiKey,
      SLUICE_CLICKUP_BASE_URL: server.url,
      SLUICE_CLICKUP_RATE_LIMIT: '6000/min',
    };
    const queue = await openRunQueue(db, { superviseIntervalSeconds: 1 });
    engine = {
      db,
      queue,
      gateway: createGateway({ db, providers: sandboxProviders(), env, services: { db } }),
      resolvePipeline: cachedPipelineResolver(),
    };
  }, 60_000);
  afterAll(async () => {
    await engine?.queue.stop();
    await server?.close();
    await sandbox?.stop();
    if (backend === 'postgres') await db.exec(`DROP SCHEMA IF EXISTS "${bossSchemaFor(db.schema)}" CASCADE`);
    await db.close();
  });

  it('a month later, a changed job is marked inactive with its evidence, the replacement is found, enriched and lands in ClickUp', async () => {
    const world = sandbox.world;
    // Which courses lose someone next month is decided by hash; take five of them and three others,
    // stored as they are this month (a copy: the month advance moves people).
    const preview = structuredClone(
      world.courses.map((c) => ({ id: c.id, people: c.people.map((p) => ({ ...p })) })),
    );
    const peopleNow = new Map(preview.map((c) => [c.id, c.people]));
    const changes = advanceMonth(world);
    expect(changes.length).toBeGreaterThan(0);
    const left = new Set(changes.map((c) => c.person.id));
    changedCourses = [...new Map(changes.map((c) => [c.from.id, c.from])).values()]
      .filter((c) => c.website && c.mailServer === 'normal')
      .slice(0, 5);
    const steady = world.courses
      .filter((c) => c.website && !changes.some((x) => x.from.id === c.id) && c.mailServer === 'normal')
      .slice(0, 3);
    const longAgo = new Date(Date.now() - 40 * day).toISOString();
    const contactOf = new Map<string, number>();
    for (const c of [...changedCourses, ...steady]) {
      const a = await db.query<{ id: string }>(
        `INSERT INTO accounts (name, domain, website, segment) VALUES ($1, $2, $3, 'high-end') RETURNING id`,
        [c.name, c.domain, c.website],
      );
      for (const p of peopleNow.get(c.id)!) {
        const key = personNameKey(completePersonName({ fullName: p.fullName }));
        const r = await db.query<{ id: string }>(
          `INSERT INTO contacts (account_id, first_name, last_name, full_name, name_key, title, email, last_verified_at, attributes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '{"enriched_by": "golf-courses"}') RETURNING id`,
          [Number(a.rows[0]!.id), p.firstName, p.lastName, p.fullName, key, p.title, p.email, longAgo],
        );
        contactOf.set(p.id, Number(r.rows[0]!.id));
      }
    }
    // last month's CRM: a task per contact
    const def = await loadSync('golf-courses-clickup');
    const first = await runSync({ db, def, env });
    expect(first.counts.created).toBe(contactOf.size);

    const report = await runFreshness({
      db,
      engine,
      env,
      pipeline: PIPELINE,
      syncs: ['golf-courses-clickup'],
    });
    const leavers = [...contactOf.keys()].filter((id) => left.has(id));
    expect(leavers.length).toBeGreaterThan(0);
    expect(report.selected).toBe(contactOf.size);
    expect(report.changed + report.bounced).toBe(leavers.length);
    expect(report.verified).toBe(contactOf.size - leavers.length - report.unknown);
    expect(report.replaced).toBeGreaterThanOrEqual(1);
    expect(report.newContacts).toBeGreaterThanOrEqual(report.replaced);
    expect(report.costUsd).toBeGreaterThan(0);

    // the leavers: inactive, with the evidence; their identity untouched
    for (const pid of leavers) {
      const id = contactOf.get(pid)!;
      const c = (
        await db.query<{
          status: string;
          full_name: string;
          email: string;
          attributes: Record<string, unknown>;
        }>('SELECT status, full_name, email, attributes FROM contacts WHERE id = $1', [id])
      ).rows[0]!;
      const person = changes.find((x) => x.person.id === pid)!;
      expect(c.status).toBe('inactive');
      expect(c.full_name).toBe(person.person.fullName);
      expect(String(c.attributes.inactive_reason)).toMatch(/job change|bounced/);
      const lineage = await readLineage(db, 'contact', id);
      const statusLine = lineage.find((l) => l.field === 'status');
      expect(statusLine?.values.find((v) => v.current)?.provider).toMatch(/apollo|hunter/);
    }
    // a job change was caught as one (Apollo matched the person at the new club)
    expect(report.changed).toBeGreaterThan(0);
    const details = await passChanges(db, report.passId);
    const changed = details.find((d) => d.outcome === 'changed')!;
    const move = changes.find((x) => contactOf.get(x.person.id) === changed.contactId)!;
    expect((changed.evidence.employment as { organization: string }).organization).toBe(move.to.name);
    // the replacement: a new contact (not the old row), enriched by the pipeline, linked to the leaver
    const withReplacement = details.filter((d) => d.replacement);
    expect(withReplacement.length).toBeGreaterThan(0);
    for (const d of withReplacement) {
      const move2 = changes.find((x) => contactOf.get(x.person.id) === d.contactId)!;
      expect(d.replacement!.name).toBe(move2.replacement.fullName);
      expect(d.replacement!.id).not.toBe(d.contactId);
    }
    // ClickUp: the leavers' tasks archived (names unchanged), the replacements' tasks created
    const tasks = [...clickup.tasks.values()];
    for (const pid of leavers) {
      const person = changes.find((x) => x.person.id === pid)!.person;
      const t = tasks.filter((x) => x.name.startsWith(`${person.fullName} - `));
      expect(t).toHaveLength(1);
      expect(t[0]!.archived).toBe(true);
    }
    for (const d of withReplacement) {
      const t = tasks.filter((x) => x.name.startsWith(`${d.replacement!.name} - `));
      expect(t.map((x) => x.archived)).toEqual([false]);
    }
    expect(report.synced[0]).toMatchObject({ sync: 'golf-courses-clickup', archived: leavers.length });

    // the report; a second pass right after finds nothing stale
    const [pass] = await listPasses(db, 1);
    expect(pass).toMatchObject({
      id: report.passId,
      state: 'done',
      changed: report.changed,
      bounced: report.bounced,
    });
    const again = await runFreshness({
      db,
      engine,
      env,
      pipeline: PIPELINE,
      syncs: ['golf-courses-clickup'],
    });
    expect(again.selected).toBe(report.unknown + report.failed);
  }, 120_000);
});
