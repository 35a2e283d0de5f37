import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CSV } from '../src/demo/run-demo.ts';
import { checkWhereFields, parseWhere, selectAccountsSql, WhereError } from '../src/engine/selection.ts';
import { importFile } from '../src/import/import-file.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { type SharedDb, sharedDb } from './helpers/shared-db.ts';

/**
 * Bad-input cases of the CLI (issue 9) that need the real executable (bin/sluice.js) as a child
 * process: a closed pipe, a non-root unwritable data dir, a resumed batch; and the `--where` tables
 * (test/fixtures/bad-input-cli/where.json) checked against independent SQL counts. The other cases
 * are in the in-process corpus (test/bad-input-corpus.test.ts, test/fixtures/bad-input-corpus/).
 * One migrated database per backend serves every case (the demo's 200 accounts).
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

/** The unwritable data dir needs a real non-root process; the other environment cases are in the corpus. */
describe('bad environment (CLI)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sluice-env-'));

  it.skipIf(process.getuid?.() === 0)(
    'an unwritable data dir names the path and the fix (EACCES)',
    async () => {
      const ro = join(tmp, 'read-only');
      mkdirSync(ro, { mode: 0o555 });
      const r = await sluice(['--data-dir', join(ro, 'db'), 'status']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`data dir ${join(ro, 'db')} cannot be created: permission denied`);
      expect(r.stderr).not.toMatch(/EACCES.*mkdir/);
    },
  );
});

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

  it('`sluice export | head` ends quietly: exit 0, no EPIPE stack trace', async () => {
    const r = await sluice(['export', '--format', 'json', '--provenance'], env, { closeStdoutAfter: 1 });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/EPIPE/);
    noStack(r);
    // the export read nothing into the database: all 200 accounts are still there
    expect(await countOf('SELECT count(*)::int AS n FROM accounts')).toBe(200);
  });

  const batches = () => countOf('SELECT count(*)::int AS n FROM batches');
  const run = (...args: string[]) => sluice(['run', ...args], env);

  const WHERE = JSON.parse(readFileSync(fixture('where.json'), 'utf8')) as {
    valid: { where: string; sql: string }[];
    invalid: { where: string; column: number; message: string }[];
  };

  it('--where: every valid filter selects exactly what an independent SQL count says', async () => {
    const db = await shared.open();
    const counts: number[] = [];
    try {
      for (const c of WHERE.valid) {
        const expected = (
          await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM accounts WHERE ${c.sql}`)
        ).rows[0]!.n;
        const sel = selectAccountsSql({ where: c.where }, 1);
        const got = await db.query(sel.text, sel.params);
        expect(got.rows.length, c.where).toBe(expected);
        expect(expected, c.where).toBeGreaterThan(0);
        expect(expected, c.where).toBeLessThan(200);
        counts.push(expected);
      }
    } finally {
      await db.close();
    }
    // the first two through the real CLI (the issue's `or` that selected all 200 accounts)
    for (const [i, c] of WHERE.valid.slice(0, 2).entries()) {
      const r = await run(
        '--pipeline',
        fixture('pipelines', 'good.yaml'),
        '--where',
        c.where,
        '--dry-run',
        '--json',
      );
      expect(r.code, `${c.where}: ${r.stderr}`).toBe(0);
      expect((JSON.parse(r.stdout) as { records: number }).records, c.where).toBe(counts[i]);
    }
  }, 120_000);

  it('--where: unknown fields and unreadable filters exit 2 with the column, before anything is queued', async () => {
    const known = ['id', 'name', 'city', 'state', 'phone', 'website', 'domain'];
    for (const c of WHERE.invalid) {
      let err: WhereError | undefined;
      try {
        checkWhereFields(c.where, parseWhere(c.where), known);
      } catch (e) {
        err = e as WhereError;
      }
      expect(err, c.where).toBeInstanceOf(WhereError);
      expect(err!.message, c.where).toMatch(new RegExp(c.message));
      expect(err!.details.column, c.where).toBe(c.column);
      expect(err!.exitCode).toBe(2);
    }
    // through the real CLI: an unknown field (needs the database) and two unreadable filters
    const before = await batches();
    for (const c of [WHERE.invalid[0]!, WHERE.invalid[2]!, WHERE.invalid[9]!]) {
      const r = await run(
        '--pipeline',
        fixture('pipelines', 'always-fails.yaml'),
        '--where',
        c.where,
        '--yes',
        '--json',
      );
      expect(r.code, `${c.where}: ${r.stderr}`).toBe(2);
      const e = errorDoc(r);
      expect(e.code).toBe('usage');
      expect(e.message, c.where).toMatch(new RegExp(c.message));
      expect(e.details, c.where).toMatchObject({ where: c.where, column: c.column });
      expect(r.stderr).toContain(`(column ${c.column})`);
      noStack(r);
    }
    expect(await batches()).toBe(before);
  }, 120_000);

  it('--resume needs no --pipeline, refuses another pipeline and unknown batches', async () => {
    const first = await run('--pipeline', fixture('pipelines', 'always-fails.yaml'), '--ids', '3', '--json');
    const batch = (JSON.parse(first.stdout) as { batch: number }).batch;
    const resumed = await run('--resume', String(batch), '--json');
    expect(resumed.stderr).not.toMatch(/--pipeline/);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ batch, pipeline: 'always-fails', runs: { total: 1 } });
    expect(resumed.code).toBe(1); // its one run failed
    const other = await run('--resume', String(batch), '--pipeline', fixture('pipelines', 'good.yaml'));
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/runs pipeline .*always-fails\.yaml", not/);
    const missing = await run('--resume', '99999', '--json');
    expect(missing.code).toBe(2);
    expect(errorDoc(missing).message).toMatch(/batch 99999 does not exist/);
    const mixed = await run('--resume', String(batch), '--where', 'state=VA');
    expect(mixed.code).toBe(2);
  }, 90_000);
});
