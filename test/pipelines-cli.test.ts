import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** `sluice pipelines list|show|validate` as a user runs them (child processes, exit codes, --json). */
const root = join(import.meta.dirname, '..');

function sluice(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/sluice.js', ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('sluice pipelines', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-pipelines-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('lists the built-in pipelines and shows one with its forecast', async () => {
    const list = await sluice(['pipelines', 'list', '--json']);
    expect(list.code).toBe(0);
    const names = (JSON.parse(list.stdout) as { pipelines: { name: string; valid: boolean }[] }).pipelines;
    expect(names).toContainEqual(expect.objectContaining({ name: 'golf-courses', valid: true }));
    const show = await sluice(['pipelines', 'show', 'golf-courses']);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(
      'email: waterfall email ← email-pattern.infer-email → hunter.email-finder → apollo.people-match',
    );
    expect(show.stdout).toMatch(/hunter\s+email-verifier/);
  });

  it('validates files: ok, or every problem as file:line:col: field: message with exit code 1', async () => {
    const good = join(dir, 'good.yaml');
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      good,
      'name: good\nsteps:\n  - { id: d, kind: formula, fields: { domain: domain_of(account.website) } }\n',
    );
    await writeFile(
      bad,
      'name: bad\nsteps:\n  - id: d\n    kind: formula\n    fields:\n      domain: domian_of(account.website)\n',
    );
    const ok = await sluice(['pipelines', 'validate', good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/good\.yaml: ok/);
    const res = await sluice(['pipelines', 'validate', good, bad, '--json']);
    expect(res.code).toBe(1);
    const out = JSON.parse(res.stdout) as {
      valid: boolean;
      files: { valid: boolean; issues: { line: number; field: string; message: string }[] }[];
    };
    expect(out.valid).toBe(false);
    expect(out.files[1]!.issues[0]).toMatchObject({ line: 6, field: 'steps[0].fields.domain' });
    expect(out.files[1]!.issues[0]!.message).toMatch(/unknown function "domian_of"/);
    const human = await sluice(['pipelines', 'validate', bad]);
    expect(human.stdout).toMatch(/bad\.yaml:6:\d+: steps\[0\]\.fields\.domain: unknown function/);
    expect(human.stderr).toMatch(/1 of 1 pipeline file\(s\) are invalid/);
  });
});
