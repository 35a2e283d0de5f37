import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { createGoHighLevelFake, type GoHighLevelFake } from '../src/sandbox/fakes/crm/gohighlevel.ts';
import type { RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import { SYNCS_DIR } from '../src/sync/load-sync.ts';
import {
  disableSync,
  enableSync,
  listSchedules,
  pipelineMatches,
  runDueSyncs,
  startSyncScheduler,
} from '../src/sync/sync-schedule.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { emptySyncDb, seedGolf, serveFake } from './helpers/sync-fixtures.ts';

it('a batch pipeline given as a name or a file names the pipeline', () => {
  expect(pipelineMatches('golf-courses', 'golf-courses')).toBe(true);
  expect(pipelineMatches('pipelines/golf-courses.yaml', 'golf-courses')).toBe(true);
  expect(pipelineMatches('/x/golf-courses.yml', 'golf-courses')).toBe(true);
  expect(pipelineMatches('golf-courses-2', 'golf-courses')).toBe(false);
  expect(pipelineMatches('other.yaml', 'golf-courses')).toBe(false);
});

describeEachBackend('syncs that run by themselves (runs.after_pipeline, runs.every)', (backend) => {
  let db: Db;
  let fake: GoHighLevelFake;
  let server: RunningServer;
  let dir: string;
  beforeAll(async () => {
    db = await openTestDb(backend);
    dir = await mkdtemp(join(tmpdir(), 'sluice-sched-'));
  });
  afterAll(async () => {
    await server?.close();
    await db.close();
  });
  beforeEach(async () => {
    await emptySyncDb(db);
    await db.exec('TRUNCATE sync_schedules, batches RESTART IDENTITY CASCADE');
    await server?.close();
    fake = createGoHighLevelFake({ per10s: 1000 });
    server = await serveFake(fake.app);
  });
  const env = () => ({
    GHL_API_KEY: fake.apiKey,
    GHL_LOCATION_ID: fake.locationId,
    SLUICE_GOHIGHLEVEL_RATE_LIMIT: '1000/10s',
  });
  const due = (o: { pipeline?: string; env?: Record<string, string> } = {}) =>
    runDueSyncs(db, { env: o.env ?? env(), baseUrls: { gohighlevel: server.url }, ...o });
  const finishBatch = async (pipeline: string, status = 'done') =>
    db.query(`INSERT INTO batches (pipeline, status, finished_at) VALUES ($1, $2, now())`, [
      pipeline,
      status,
    ]);
  /** The built-in GoHighLevel definition with its `runs` replaced. */
  const defWith = async (runs: string | null, name = 'ghl-test') => {
    const text = (await readFile(join(SYNCS_DIR, 'golf-courses-gohighlevel.yaml'), 'utf8'))
      .replace(/^name: .*$/m, `name: ${name}`)
      .replace(/^runs:\n( {2}.*\n)+/m, runs === null ? '' : `runs:\n${runs}\n`);
    const file = join(dir, `${name}-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, text);
    return file;
  };

  it('after_pipeline: runs once per finished batch of the pipeline, not before one, not for another pipeline', async () => {
    await seedGolf(db, 2, 2);
    await enableSync(db, 'golf-courses-gohighlevel');
    expect(await due()).toEqual([]); // no batch finished yet
    await db.query(`INSERT INTO batches (pipeline) VALUES ('golf-courses')`); // still running
    await finishBatch('other-pipeline');
    expect(await due()).toEqual([]);
    expect(fake.contacts.size).toBe(0);

    await finishBatch('pipelines/golf-courses.yaml');
    const ran = await due();
    expect(ran).toHaveLength(1);
    expect(ran[0]).toMatchObject({
      syncName: 'golf-courses-gohighlevel',
      reason: 'after pipeline golf-courses',
    });
    expect(ran[0]!.report!.counts).toMatchObject({ created: 4, permanent: 0, retryable: 0 });
    expect(fake.contacts.size).toBe(4);
    expect(await due()).toEqual([]); // that batch is synced after already

    await finishBatch('golf-courses', 'stopped');
    const again = await due({ pipeline: 'golf-courses' });
    expect(again.map((r) => r.report?.counts.unchanged)).toEqual([4]);
    const [s] = await listSchedules(db);
    expect(s).toMatchObject({ lastStatus: 'done', afterPipeline: 'golf-courses', enabled: true });

    await finishBatch('golf-courses');
    expect(await due({ pipeline: 'other-pipeline' })).toEqual([]); // `sluice run` of another pipeline
    expect(await disableSync(db, 'golf-courses-gohighlevel')).toBe(true);
    expect(await due()).toEqual([]);
  });

  it('every: due when the interval has passed since it last started', async () => {
    await seedGolf(db, 1, 1);
    const file = await defWith('  every: 10m');
    await enableSync(db, file);
    const first = await due();
    expect(first.map((r) => r.reason)).toEqual(['every 10m']);
    expect(await due()).toEqual([]);
    await db.query(`UPDATE sync_schedules SET last_started_at = now() - interval '11 minutes'`);
    expect((await due()).map((r) => r.report?.counts.unchanged)).toEqual([1]);
  });

  it('refuses to enable a definition that says nothing about when it runs', async () => {
    const file = await defWith(null, 'ghl-never');
    await expect(enableSync(db, file)).rejects.toThrow(/no runs.after_pipeline or runs.every/);
  });

  it('a failed sync (no key) is recorded and backed off, not retried at every check; the others still run', async () => {
    await seedGolf(db, 1, 1);
    await enableSync(db, 'golf-courses-gohighlevel');
    await finishBatch('golf-courses');
    const failed = await due({ env: {} });
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toMatch(/GHL_API_KEY/);
    expect(failed[0]!.error).not.toContain(fake.apiKey);
    const [s] = await listSchedules(db);
    expect(s).toMatchObject({ lastStatus: 'failed' });
    expect(await due()).toEqual([]); // backing off
    await enableSync(db, 'golf-courses-gohighlevel'); // enabling again after fixing the key retries at once
    expect((await due()).map((r) => r.report?.counts.created)).toEqual([1]);
  });

  it('two processes checking at once run a due sync once (the lease)', async () => {
    await seedGolf(db, 2, 1);
    await enableSync(db, 'golf-courses-gohighlevel');
    await finishBatch('golf-courses');
    const [a, b] = await Promise.all([due(), due()]);
    expect([...a!, ...b!].filter((r) => r.report)).toHaveLength(1);
    expect(fake.contacts.size).toBe(2);
    const runs = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_runs');
    expect(runs.rows[0]!.n).toBe(1);
  });

  it('the scheduler loop (what `sluice serve` runs) syncs after a batch finishes', async () => {
    await seedGolf(db, 1, 2);
    await enableSync(db, 'golf-courses-gohighlevel');
    const lines: string[] = [];
    const loop = startSyncScheduler(db, {
      env: env(),
      baseUrls: { gohighlevel: server.url },
      intervalMs: 50,
      log: (l) => lines.push(l),
    });
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(fake.contacts.size).toBe(0);
      await finishBatch('golf-courses');
      for (let i = 0; i < 100 && fake.contacts.size < 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect(fake.contacts.size).toBe(2);
    } finally {
      await loop.stop();
    }
    expect(lines.join('\n')).toMatch(/golf-courses-gohighlevel: done — 2 created/);
  });
});
