import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.ts';
import { openRunEngine } from '../src/engine/engine-services.ts';
import type { RunEngine } from '../src/engine/run-executor.ts';
import { exportRecords } from '../src/export/export-records.ts';
import { bossSchemaFor } from '../src/queue/pg-boss-driver.ts';
import { demoCrmSync } from '../src/sync/demo-sync.ts';
import { describeEachBackend, openTestDb, type TestDb } from './helpers/backends.ts';
import { seedGolf } from './helpers/sync-fixtures.ts';

/**
 * The CRM part of `sluice demo` on enriched courses (seeded as the pipeline leaves them): the seed's
 * ClickUp layout in the fake, a rep's correction back through the inbound hook route as a `crm` value
 * visible in `export --provenance`, and a second demo that creates no task.
 */
describeEachBackend('sluice demo: CRM sync', (backend) => {
  let db: TestDb;
  let engine: RunEngine;
  beforeAll(async () => {
    db = await openTestDb(backend);
    engine = await openRunEngine(loadConfig({}), db);
  });
  afterAll(async () => {
    await engine.queue.stop();
    if (db.connection)
      await db.exec(`DROP SCHEMA IF EXISTS "${bossSchemaFor(db.connection.schema)}" CASCADE`);
    await db.close();
  });

  it('syncs the enriched contacts to the fake ClickUp by folder; a rep correction comes back as crm; a second demo creates no task', async () => {
    await seedGolf(db, 3, 2);
    const lines: string[] = [];
    const first = await demoCrmSync({ db, engine, env: {}, onStatus: (l) => lines.push(l) });
    expect(first.sync).toMatchObject({ created: 6, permanent: 0, retryable: 0 });
    expect(first.folders).toEqual([
      {
        list: 'High-End Clubs/New Leads',
        tasks: 2,
        example: 'Stacy Foster - General Manager | Richmond Country Club',
      },
      {
        list: 'Budget Clubs/New Leads',
        tasks: 2,
        example: expect.stringMatching(/ - General Manager \| Course 2 Golf Club$/),
      },
      { list: 'Both/New Leads', tasks: 2, example: expect.stringMatching(/Course 3 Golf Club$/) },
    ]);
    expect(first.correction).toMatchObject({ recorded: true, phone: '+18045550100' });
    expect(lines.join('\n')).toMatch(/6 tasks created/);
    expect(lines.join('\n')).toMatch(/High-End Clubs\/New Leads: 2 tasks/);

    const out = new PassThrough();
    let csv = '';
    out.on('data', (d) => (csv += d));
    await exportRecords(db, out, { kind: 'contacts', format: 'json', provenance: true });
    const rows = JSON.parse(csv) as Record<string, unknown>[];
    const corrected = rows.find((r) => Number(r.id) === first.correction!.contactId)!;
    expect(corrected).toMatchObject({
      phone: '+18045550100',
      phone__source: 'crm',
      phone__provider: 'clickup',
    });

    const second = await demoCrmSync({ db, engine, env: {} });
    expect(second.sync).toMatchObject({ created: 0, updated: 0, unchanged: 6, requests: 0 });
    expect(second.folders.map((f) => f.tasks)).toEqual([2, 2, 2]);
    expect(second.correction).toMatchObject({ recorded: true, phone: '+18045550101' });
  });
});
