import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { writeFieldValues } from '../src/records/field-values.ts';
import { type ClickUpFake, createClickUpFake } from '../src/sandbox/fakes/crm/clickup.ts';
import type { RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import { loadSync } from '../src/sync/load-sync.ts';
import { runSync } from '../src/sync/run-sync.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { emptySyncDb, seedGolf, serveFake } from './helpers/sync-fixtures.ts';

describeEachBackend('sync to ClickUp', (backend) => {
  let db: Db;
  let fake: ClickUpFake;
  let server: RunningServer;
  beforeAll(async () => {
    db = await openTestDb(backend);
  });
  afterAll(async () => {
    await db.close();
  });
  beforeEach(async () => {
    await emptySyncDb(db);
    await server?.close();
    fake = createClickUpFake({ perMinute: 1000 });
    server = await serveFake(fake.app);
  });
  const sync = async () =>
    runSync({
      db,
      def: await loadSync('golf-courses-clickup'),
      env: { CLICKUP_API_KEY: fake.apiKey, SLUICE_CLICKUP_RATE_LIMIT: '1000/min' },
      baseUrl: server.url,
    });

  it('lays out the seed: a task per contact in its segment folder, custom fields set, starters in the description; a second sync sends nothing', async () => {
    await seedGolf(db, 3, 2);
    const first = await sync();
    expect(first.counts).toMatchObject({ created: 6, permanent: 0, retryable: 0 });
    expect(fake.tasksIn('High-End Clubs/New Leads')).toHaveLength(2);
    expect(fake.tasksIn('Budget Clubs/New Leads')).toHaveLength(2);
    expect(fake.tasksIn('Both/New Leads')).toHaveLength(2);
    const stacy = [...fake.tasks.values()].find((t) => t.name.startsWith('Stacy'))!;
    expect(stacy.name).toBe('Stacy Foster - General Manager | Richmond Country Club');
    expect(stacy.markdown_description).toContain('1. [9/10] "I noticed Richmond Country Club..."\n2. [8/10]');
    const list = fake.lists.find((l) => l.id === stacy.listId)!;
    const value = (name: string) => stacy.custom.get(list.fields.find((f) => f.name === name)!.id);
    expect(value('Segment')).toBe(0); // the High-End option's orderindex, as ClickUp stores it
    expect(value('Email')).toBe('stacy.foster@course1.example');
    expect(value('Top Opp 1')).toBe('range_ball_lease (9/10)');
    expect(value('Top Opp 2')).toBe('range_ball_buy (8/10)');
    expect(value('sluice_id')).toMatch(/^sluice:contact:\d+$/);
    expect(stacy.assignees).toEqual([81_001]);

    const before = fake.stats.requests;
    const second = await sync();
    expect(second.counts).toMatchObject({ created: 0, updated: 0, unchanged: 6, requests: 0 });
    expect(fake.stats.requests).toBe(before);
  });

  it('sends only the changed field of a changed record; never sends a null over a value', async () => {
    const { contacts } = await seedGolf(db, 1, 2);
    await sync();
    await db.transaction((tx) =>
      writeFieldValues(tx, [
        {
          entityType: 'contact',
          entityId: contacts[0]!,
          field: 'phone',
          value: '+18045550000',
          source: 'manual',
        },
        { entityType: 'contact', entityId: contacts[1]!, field: 'phone', value: null, source: 'manual' },
      ]),
    );
    const before = { ...fake.stats.byRoute };
    const r = await sync();
    expect(r.counts).toMatchObject({ updated: 1, unchanged: 1 });
    expect(
      (fake.stats.byRoute['POST /task/:id/field/:id'] ?? 0) - (before['POST /task/:id/field/:id'] ?? 0),
    ).toBe(1);
    expect(fake.stats.byRoute['DELETE /task/:id/field/:id']).toBeUndefined();
  });

  it('a create whose answer was lost is found again by its sluice_id (==), never created twice', async () => {
    await seedGolf(db, 2, 2);
    fake.faults.loseCreateAnswers = 2;
    const first = await sync();
    expect(first.counts.retryable).toBe(2);
    expect(fake.tasks.size).toBe(4); // the two were created, we just do not know it
    const second = await sync();
    expect(second.counts).toMatchObject({ created: 0, retryable: 0 });
    expect(fake.tasks.size).toBe(4);
    const ids = [...fake.tasks.values()].map((t) =>
      [...t.custom.values()].find((v) => String(v).startsWith('sluice:')),
    );
    expect(new Set(ids).size).toBe(4);
  });
});
