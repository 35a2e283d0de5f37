import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** `sluice schedules …` and `sluice freshness report` as a user runs them (child processes, one data dir). */
const root = join(import.meta.dirname, '..');
let dir = '';

function sluice(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/sluice.js', '--data-dir', dir, ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('sluice schedules (CLI)', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-schedules-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('adds, refuses bad input, lists, removes a built-in, runs one now and records the firing', async () => {
    const add = await sluice([
      'schedules',
      'add',
      'nightly',
      '--cron',
      '0 2 * * *',
      '--action',
      'crm-pull',
      '--args',
      '{"pull": false}',
      '--json',
    ]);
    expect(add.code, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ name: 'nightly', action: 'crm-pull', cron: '0 2 * * *' });
    const bad = await sluice(['schedules', 'add', 'bad', '--cron', '0 99 * * *', '--action', 'crm-pull']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--cron "0 99 \* \* \*"/);
    const badArgs = await sluice([
      'schedules',
      'add',
      'worse',
      '--cron',
      '0 3 * * *',
      '--action',
      'freshness',
      '--args',
      '{"days": -1}',
    ]);
    expect(badArgs.code).toBe(2);
    expect(badArgs.stderr).toMatch(/args for freshness: days/);

    const removed = await sluice(['schedules', 'remove', 'webhook-retries']);
    expect(removed.code, removed.stderr).toBe(0);
    const list = await sluice(['schedules', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as {
      name: string;
      enabled: boolean;
      builtin: boolean;
      next: string | null;
    }[];
    const byName = new Map(rows.map((r) => [r.name, r]));
    expect(byName.get('freshness')).toMatchObject({ builtin: true, enabled: true });
    expect(byName.get('webhook-retries')).toMatchObject({ builtin: true, enabled: false, next: null });
    expect(byName.get('nightly')?.next).toMatch(/T02:00:00/);
    expect(rows.some((r) => r.name === 'bad' || r.name === 'worse')).toBe(false);

    const run = await sluice(['schedules', 'run-now', 'nightly', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      schedule: 'nightly',
      trigger: 'manual',
      state: 'succeeded',
      summary: { syncs: [] },
    });
    const runs = await sluice(['schedules', 'list', '--runs', '--json']);
    expect((JSON.parse(runs.stdout) as { schedule: string }[]).map((r) => r.schedule)).toEqual(['nightly']);
    const report = await sluice(['freshness', 'report']);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/no freshness pass yet/);
  }, 120_000);
});
