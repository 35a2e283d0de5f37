import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

/** The CLI as a user runs it: a real child process. */
const BIN = new URL('../bin/sluice.js', import.meta.url).pathname;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function sluice(args: string[], extraEnv: Record<string, string> = {}, dir?: string) {
  // A clean environment: no real keys or base URLs leak in, and no .env from the checkout.
  const cwd = dir ?? mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH, NO_COLOR: '1', ...extraEnv },
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return { child, done, out: () => stdout, err: () => stderr };
}

describe('sluice providers / sandbox commands', () => {
  it('providers test --sandbox checks every provider against the fakes and announces the sandbox', async () => {
    const run = sluice(['providers', 'test', '--sandbox', '--json']);
    expect(await run.done).toBe(0);
    expect(run.err()).toContain('sandbox: simulated providers, no real data');
    const result = JSON.parse(run.out()) as { providers: { id: string; ok: boolean }[] };
    expect(result.providers.map((p) => p.id)).toEqual(
      expect.arrayContaining(['hunter', 'apollo', 'perplexity', 'jina', 'website']),
    );
    expect(result.providers.every((p) => p.ok)).toBe(true);
  });

  it('providers test without keys fails and names the missing variable', async () => {
    const run = sluice(['providers', 'test', 'hunter']);
    expect(await run.done).toBe(1);
    expect(run.out()).toContain('HUNTER_API_KEY is not set');
  });

  it('sandbox start serves the fake websites and prints env lines until interrupted', async () => {
    const run = sluice(['sandbox', 'start', '--latency-scale', '0']);
    const deadline = Date.now() + 30_000;
    while (!/Ctrl-C/.test(run.out()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const env = Object.fromEntries([...run.out().matchAll(/^([A-Z_]+)=(.+)$/gm)].map((m) => [m[1], m[2]]));
    expect(env.HUNTER_API_KEY).toBeTruthy();
    expect(env.SLUICE_WEBSITE_BASE_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const tryLine = /# try: curl (\S+)/.exec(run.out())![1]!;
    const page = await fetch(tryLine);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Staff');
    const hunter = await fetch(`${env.SLUICE_HUNTER_BASE_URL}/account`, {
      headers: { 'X-API-KEY': env.HUNTER_API_KEY! },
    });
    expect(hunter.status).toBe(200);
    run.child.kill('SIGINT');
    expect(await run.done).toBe(0);
  });

  it('with the printed env lines, `sluice run` takes golf-courses end to end through the fakes (models included)', async () => {
    const sandbox = sluice(['sandbox', 'start', '--latency-scale', '0', '--fault-rate', '0']);
    const deadline = Date.now() + 30_000;
    while (!/Ctrl-C/.test(sandbox.out()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const env = Object.fromEntries(
      [...sandbox.out().matchAll(/^([A-Z_]+)=(.+)$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    expect(env.SLUICE_ANTHROPIC_BASE_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(env.SLUICE_OPENAI_BASE_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-'));
    const csv = new URL('../data/virginia-golf-courses.csv', import.meta.url).pathname;
    const imported = sluice(['--data-dir', join(dir, 'data'), 'import', csv], env, dir);
    expect(await imported.done).toBe(0);
    const run = sluice(
      ['--data-dir', join(dir, 'data'), 'run', '--pipeline', 'golf-courses', '--limit', '1', '--json'],
      env,
      dir,
    );
    expect(await run.done, run.err()).toBe(0);
    const summary = JSON.parse(run.out()) as { runs: { total: number; enriched: number; partial: number } };
    expect(summary.runs.total).toBe(1);
    expect(summary.runs.enriched + summary.runs.partial).toBe(1);
    sandbox.child.kill('SIGINT');
    expect(await sandbox.done).toBe(0);
  }, 120_000);
});
