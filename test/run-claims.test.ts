import { expect, it } from 'vitest';
import { claimAndLoadRun } from '../src/engine/run-store.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { emptiedTestDb } from './helpers/empty-db.ts';

describeEachBackend('run claims', (backend) => {
  const db = emptiedTestDb(backend);

  it('claims that start together share one statement; each gets its own run, a second claim of a run takes it over', async () => {
    const a = await db.query<{ id: number }>(
      `INSERT INTO accounts (name) SELECT 'acct-' || g FROM generate_series(1, 4) g RETURNING id`,
    );
    const runs = await db.query<{ id: number; account_id: number }>(
      `INSERT INTO runs (pipeline, account_id, state)
       SELECT 'p', id, CASE WHEN n = 4 THEN 'enriched' ELSE 'queued' END
       FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, n) RETURNING id, account_id`,
      [a.rows.map((r) => r.id)],
    );
    await db.query(
      `INSERT INTO run_steps (run_id, step_key, status, output) VALUES ($1, 's1', 'found', '{"x":1}')`,
      [runs.rows[1]!.id],
    );
    const texts: string[] = [];
    const counting = Object.create(db) as typeof db;
    counting.query = (text, params) => {
      texts.push(text);
      return db.query(text, params);
    };
    const [r1, r2, r3, r4, again] = await Promise.all([
      claimAndLoadRun(counting, runs.rows[0]!.id, 'job-1'),
      claimAndLoadRun(counting, runs.rows[1]!.id, 'job-2'),
      claimAndLoadRun(counting, runs.rows[2]!.id, 'job-3'),
      claimAndLoadRun(counting, runs.rows[3]!.id, 'job-4'),
      claimAndLoadRun(counting, runs.rows[0]!.id, 'job-1b'),
    ]);
    // One statement for the distinct runs, a second for the run claimed twice.
    expect(texts).toHaveLength(2);
    expect(r1).toMatchObject({ id: runs.rows[0]!.id, accountId: runs.rows[0]!.account_id, attempts: 1 });
    expect(r1?.account).toMatchObject({ name: 'acct-1' });
    expect(r2).toMatchObject({ id: runs.rows[1]!.id, memo: { s1: { x: 1 } } });
    expect(r3).toMatchObject({ id: runs.rows[2]!.id, memo: {} });
    // Already final: not claimed.
    expect(r4).toBeUndefined();
    expect(again).toMatchObject({ id: runs.rows[0]!.id, attempts: 2 });
    const owners = await db.query<{ id: number; job_id: string | null; state: string }>(
      'SELECT id, job_id, state FROM runs ORDER BY id',
    );
    expect(owners.rows.map((r) => [r.job_id, r.state])).toEqual([
      ['job-1b', 'running'],
      ['job-2', 'running'],
      ['job-3', 'running'],
      [null, 'enriched'],
    ]);
  });
});
