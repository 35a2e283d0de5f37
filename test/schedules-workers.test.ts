import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { bossSchemaFor } from '../src/queue/pg-boss-driver.ts';
import {
  applyEntry,
  installSchedules,
  openScheduleQueue,
  SCHEDULES_QUEUE,
} from '../src/schedules/schedule-queue.ts';
import { listRuns, type Schedule, upsertSchedule } from '../src/schedules/schedule-store.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { type SharedDb, sharedDb } from './helpers/shared-db.ts';

/**
 * "A cron firing runs once with three workers" with real `sluice worker` processes (schedules.test.ts
 * has the in-process version): three workers on one database each run cron passes every second; the
 * schedule's one occurrence is sent once and run once. Server Postgres only: PGlite is one process's
 * database, so three processes on it is not a deployment (and would prove nothing more).
 */
const BIN = new URL('../bin/sluice.js', import.meta.url).pathname;
const children: ChildProcess[] = [];

function worker(env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, 'worker', '--concurrency', '1'], {
    env: { PATH: process.env.PATH, NO_COLOR: '1', SLUICE_CRON_INTERVAL_SECONDS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout!.resume();
  return { child, err: () => stderr };
}

async function waitFor(what: string, fn: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describeEachBackend('schedules across worker processes', (backend) => {
  let shared: SharedDb | undefined;
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await shared?.cleanup();
    shared = undefined;
  });

  it.skipIf(backend !== 'postgres')(
    'three `sluice worker` processes: a cron occurrence is fired and run once',
    async () => {
      shared = sharedDb(backend);
      const db = await shared.open();
      try {
        // the workers first: the occurrence is set once all three are running cron passes
        const workers = [worker(shared.env), worker(shared.env), worker(shared.env)];
        await waitFor(
          'three workers',
          () => workers.every((w) => /working \(concurrency 1\)/.test(w.err())),
          120_000,
        );
        for (const w of workers) expect(w.child.exitCode).toBeNull();
        // one occurrence 5 s from now (six fields: seconds first); it stays due for 60 s, so each
        // worker's passes (one a second) see it many times over
        const at = new Date(Date.now() + 5_000);
        const probe: Schedule = {
          name: 'probe',
          action: 'webhook-retries',
          args: {},
          cron: `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`,
          timezone: 'UTC',
          builtin: false,
          enabled: true,
        };
        const q = await openScheduleQueue(db);
        try {
          await installSchedules(db, q);
          await upsertSchedule(db, probe);
          await applyEntry(q, probe);
        } finally {
          await q.stop();
        }
        await waitFor(
          'the firing',
          async () => (await listRuns(db, { schedule: 'probe' })).length > 0,
          90_000,
        );
        // a further 10 s of passes by all three, inside the occurrence's due window
        await sleep(10_000);
        for (const w of workers) expect(w.child.exitCode, w.err()).toBeNull();
        const runs = await listRuns(db, { schedule: 'probe' });
        expect(runs.map((r) => [r.trigger, r.state])).toEqual([['cron', 'succeeded']]);
        const jobs = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${bossSchemaFor(db.schema)}".job WHERE name = $1 AND data->>'schedule' = 'probe'`,
          [SCHEDULES_QUEUE],
        );
        expect(jobs.rows[0]!.n).toBe(1);
        // exactly one process ran it, and says so
        const ran = workers.filter((w) => /schedule probe #\d+: succeeded/.test(w.err()));
        expect(ran).toHaveLength(1);
      } finally {
        for (const c of children) c.kill('SIGTERM');
        await Promise.all(
          children.map((c) =>
            c.exitCode !== null || c.signalCode !== null
              ? undefined
              : Promise.race([new Promise((r) => c.once('exit', r)), sleep(20_000)]),
          ),
        );
        await db.close();
      }
    },
    240_000,
  );
});
