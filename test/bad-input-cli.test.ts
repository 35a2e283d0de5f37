import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_CSV } from '../src/demo/run-demo.ts';
import { importFile } from '../src/import/import-file.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { type SharedDb, sharedDb } from './helpers/shared-db.ts';

/**
 * The bad-input corpus of the CLI (issue 9, fixtures in test/fixtures/bad-input-cli/): each case runs
 * the real CLI (bin/sluice.js) as a child process and asserts the message, the exit code, and that
 * nothing valid was lost or selected by accident. One migrated database per backend serves every case
 * (the demo's 200 accounts); cases that must fail before the database is opened get none.
 */
const ROOT = join(import.meta.dirname, '..');
const FIXTURES = join(import.meta.dirname, 'fixtures', 'bad-input-cli');
const fixture = (...p: string[]) => join(FIXTURES, ...p);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The parent's database settings never leak into the child: each case passes its own. */
function cleanEnv(): Record<string, string | undefined> {
  const {
    DATABASE_URL: _u,
    SLUICE_DB_SCHEMA: _s,
    SLUICE_DATA_DIR: _d,
    SLUICE_DEBUG: _g,
    ...base
  } = process.env;
  return { ...base, NO_COLOR: '1' };
}

function sluice(
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { cwd?: string; closeStdoutAfter?: number } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/sluice.js'), ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...cleanEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      // A reader that stops early, like `| head -c N`: the child's next writes hit a closed pipe.
      if (options.closeStdoutAfter !== undefined && stdout.length >= options.closeStdoutAfter)
        child.stdout.destroy();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const noStack = (r: Run) => expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);

/** `{"error": {...}}` on stdout, and nothing else there. */
function errorDoc(r: Run): { code: string; message: string; details: Record<string, unknown> } {
  const doc = JSON.parse(r.stdout) as {
    error: { code: string; message: string; details: Record<string, unknown> };
  };
  expect(Object.keys(doc)).toEqual(['error']);
  expect(typeof doc.error.message).toBe('string');
  expect(doc.error.details).toBeTypeOf('object');
  return doc.error;
}

describeEachBackend('bad input (CLI)', (backend) => {
  let shared: SharedDb;
  let env: Record<string, string>;
  beforeAll(async () => {
    shared = sharedDb(backend);
    env = shared.env;
    const db = await shared.open();
    await importFile(db, { file: DEMO_CSV, kind: 'accounts' });
    await db.close();
  }, 120_000);
  afterAll(async () => {
    await shared.cleanup();
  });

  const countOf = async (sql: string): Promise<number> => {
    const db = await shared.open();
    try {
      return (await db.query<{ n: number }>(sql)).rows[0]?.n ?? 0;
    } finally {
      await db.close();
    }
  };

  it('exit codes and JSON: usage errors exit 2 with an error document, --json or not', async () => {
    const missing = await sluice(['run', '--json'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--pipeline");
    expect(errorDoc(missing)).toMatchObject({
      code: 'usage',
      details: { reason: 'commander.missingMandatoryOptionValue' },
    });

    const badFlag = await sluice(['export', '--kind', 'people', '--json'], env);
    expect(badFlag.code).toBe(2);
    expect(errorDoc(badFlag).message).toMatch(/people.*invalid|Allowed choices/);

    const human = await sluice(['run', '--pipeline', 'no-such-pipeline'], env);
    expect(human.code).toBe(2);
    expect(human.stdout).toBe('');
    expect(human.stderr).toMatch(/unknown pipeline "no-such-pipeline"/);
    noStack(human);
  });

  it('sluice run exits 1 with its JSON summary when every run failed, and says so', async () => {
    const r = await sluice(
      ['run', '--pipeline', fixture('pipelines', 'always-fails.yaml'), '--ids', '1,2', '--json'],
      env,
    );
    expect(r.code).toBe(1);
    const summary = JSON.parse(r.stdout) as { runs: { total: number; failed: number } };
    expect(summary.runs).toMatchObject({ total: 2, failed: 2 });
    expect(r.stderr).toMatch(/incomplete: 2 of 2 runs failed/);
    noStack(r);
  }, 60_000);

  it('`sluice export | head` ends quietly: exit 0, no EPIPE stack trace', async () => {
    const r = await sluice(['export', '--format', 'json', '--provenance'], env, { closeStdoutAfter: 1 });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/EPIPE/);
    noStack(r);
    // the export read nothing into the database: all 200 accounts are still there
    expect(await countOf('SELECT count(*)::int AS n FROM accounts')).toBe(200);
  });
});
