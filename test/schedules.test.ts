import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { bossSchemaFor } from '../src/queue/pg-boss-driver.ts';
import { runSchedule } from '../src/schedules/run-schedule.ts';
import {
  applyEntry,
  installSchedules,
  openScheduleQueue,
  SCHEDULES_QUEUE,
} from '../src/schedules/schedule-queue.ts';
import { type ScheduleRunner, startScheduleRunner } from '../src/schedules/schedule-runner.ts';
import {
  getSchedule,
  listRuns,
  removeSchedule,
  type Schedule,
  startRun,
  upsertSchedule,
} from '../src/schedules/schedule-store.ts';
import { describeEachBackend, openTestDb, type TestDb } from './helpers/backends.ts';

/** A schedule firing the no-op-when-idle webhook sender (nothing is due in these databases). */
const probe = (name: string, cron: string): Schedule => ({
  name,
  action: 'webhook-retries',
  args: {},
  cron,
  timezone: 'UTC',
  builtin: false,
  enabled: true,
});

async function addSchedule(db: Db, s: Schedule): Promise<void> {
  const q = await openScheduleQueue(db);
  try {
    await installSchedules(db, q);
    await upsertSchedule(db, s);
    await applyEntry(q, s);
  } finally {
    await q.stop();
  }
}

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const jobsOf = async (db: Db, schedule: string) =>
  (
    await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${bossSchemaFor(db.schema)}".job WHERE name = $1 AND data->>'schedule' = $2`,
      [SCHEDULES_QUEUE, schedule],
    )
  ).rows[0]!.n;

describeEachBackend('schedules', (backend) => {
  let db: TestDb;
  const extra: Db[] = [];
  const runners: ScheduleRunner[] = [];
  // one database for the file (each test names its own schedules): opening one costs seconds
  beforeAll(async () => {
    db = await openTestDb(backend);
  });
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
    await Promise.all(extra.splice(0).map((d) => d.close()));
  });
  afterAll(async () => {
    if (backend === 'postgres') await db.exec(`DROP SCHEMA IF EXISTS "${bossSchemaFor(db.schema)}" CASCADE`);
    await db.close();
  });

  /** Another "process": its own pool on the server; PGlite allows one process, so the same instance. */
  async function processDb(): Promise<Db> {
    if (!db.connection) return db;
    const d = await openDb({ databaseUrl: db.connection.url, schema: db.connection.schema, migrate: false });
    extra.push(d);
    return d;
  }

  it('a cron firing runs once with three workers running cron passes', async () => {
    // an occurrence a few seconds from now (six fields: seconds first); it stays due for 60 s, so
    // every pass of every worker in that minute sees it
    const at = new Date(Date.now() + 4_000);
    const cron = `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`;
    await addSchedule(db, probe('probe', cron));
    for (let i = 0; i < 3; i++)
      runners.push(
        await startScheduleRunner({
          services: { db: await processDb(), env: {} },
          cronIntervalSeconds: 1,
          pollMs: 100,
        }),
      );
    await waitFor('the firing', async () => (await listRuns(db, { schedule: 'probe' })).length > 0);
    // six more passes across the three workers, all inside the occurrence's due window
    await sleep(6_000);
    const runs = await listRuns(db, { schedule: 'probe' });
    expect(runs.map((r) => [r.trigger, r.state])).toEqual([['cron', 'succeeded']]);
    expect(await jobsOf(db, 'probe')).toBe(1);
  }, 60_000);

  it('firings missed while nothing ran are caught up once, not once per missed occurrence', async () => {
    // hourly, at a minute five minutes ago: nothing is due now; five occurrences fell in the gap
    const m = (new Date(Date.now() - 5 * 60_000).getUTCMinutes() + 60) % 60;
    await addSchedule(db, probe('hourly', `${m} * * * *`));
    const boss = bossSchemaFor(db.schema);
    // the last cron pass anyone ran was five hours ago, and the schedule is older than that
    await db.query(`UPDATE "${boss}".version SET cron_on = now() - interval '5 hours 2 minutes'`);
    await db.query(
      `UPDATE "${boss}".schedule SET created_on = now() - interval '6 hours' WHERE key = 'hourly'`,
    );
    runners.push(
      await startScheduleRunner({ services: { db, env: {} }, cronIntervalSeconds: 1, pollMs: 100 }),
    );
    await waitFor('the catch-up firing', async () => (await listRuns(db, { schedule: 'hourly' })).length > 0);
    await sleep(4_000);
    expect((await listRuns(db, { schedule: 'hourly' })).map((r) => r.state)).toEqual(['succeeded']);
    expect(await jobsOf(db, 'hourly')).toBe(1);
  }, 60_000);

  it('built-ins are installed once; a removed built-in stays removed and loses its cron entry', async () => {
    const q = await openScheduleQueue(db);
    try {
      await installSchedules(db, q);
      const keys = async () =>
        (await q.cron.list(SCHEDULES_QUEUE))
          .map((e) => e.key)
          .filter((k) => ['crm-pull', 'webhook-retries', 'mine'].includes(k))
          .sort();
      expect(await keys()).toEqual(['crm-pull', 'webhook-retries']);
      expect(await removeSchedule(db, 'webhook-retries')).toBe(true);
      await installSchedules(db, q);
      expect(await keys()).toEqual(['crm-pull']);
      expect((await getSchedule(db, 'webhook-retries'))?.enabled).toBe(false);
      // a schedule of the user's is deleted outright
      await upsertSchedule(db, probe('mine', '0 3 * * *'));
      await installSchedules(db, q);
      expect(await keys()).toEqual(['crm-pull', 'mine']);
      expect(await removeSchedule(db, 'mine')).toBe(true);
      expect(await getSchedule(db, 'mine')).toBeUndefined();
      await installSchedules(db, q);
      expect(await keys()).toEqual(['crm-pull']);
      await upsertSchedule(db, { ...probe('webhook-retries', '* * * * *'), action: 'webhook-retries' });
      expect((await getSchedule(db, 'webhook-retries'))?.enabled).toBe(true);
      expect(q.cron.next('0 6 1 * *', { from: new Date('2026-12-03T00:00:00Z') })).toEqual([
        new Date('2027-01-01T06:00:00Z'),
      ]);
    } finally {
      await q.stop();
    }
  });

  it('a firing that overlaps a running one is skipped; a failed action is a failed firing', async () => {
    await upsertSchedule(db, probe('slow', '0 3 * * *'));
    const held = await startRun(db, 'slow', 'cron', 'job-1');
    expect('id' in held).toBe(true);
    const second = await runSchedule({ db, env: {} }, 'slow', { trigger: 'manual' });
    expect(second.state).toBe('skipped');
    // a runner that died: its heartbeat lapsed, so the next firing runs
    await db.query(
      `UPDATE schedule_runs SET heartbeat_at = now() - interval '10 minutes' WHERE state = 'running'`,
    );
    const third = await runSchedule({ db, env: {} }, 'slow', { trigger: 'manual' });
    expect(third.state).toBe('succeeded');
    expect(third.summary).toEqual({ attempted: 0 });
    expect((await listRuns(db, { schedule: 'slow' })).map((r) => r.state)).toEqual([
      'succeeded',
      'skipped',
      'abandoned',
    ]);
    await upsertSchedule(db, {
      ...probe('broken', '0 3 * * *'),
      action: 'crm-pull',
      args: { syncs: ['nope'] },
    });
    const failed = await runSchedule({ db, env: {} }, 'broken', { trigger: 'manual' });
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatch(/no built-in sync "nope"/);
  });
});
