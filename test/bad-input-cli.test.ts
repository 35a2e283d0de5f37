import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CSV } from '../src/demo/run-demo.ts';
import { checkWhereFields, parseWhere, selectAccountsSql, WhereError } from '../src/engine/selection.ts';
import { importFile } from '../src/import/import-file.ts';
import { startSandbox } from '../src/sandbox/start-sandbox.ts';
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

/** Environment cases that need no database at all: each must fail before one is created. */
describe('bad environment (CLI)', () => {
  const ENV = JSON.parse(readFileSync(fixture('env.json'), 'utf8')) as {
    cases: { name: string; args: string[]; env?: Record<string, string>; code: number; stderr: string }[];
  };
  const tmp = mkdtempSync(join(tmpdir(), 'sluice-env-'));
  const file = join(tmp, 'a-file');
  writeFileSync(file, 'not a directory');
  const fill = (x: string) => x.replaceAll('{tmp}', tmp).replaceAll('{file}', file);

  for (const c of ENV.cases) {
    it(`${c.name}: exit ${c.code}, named, before any database`, async () => {
      const r = await sluice(c.args.map(fill), c.env ?? {});
      expect(r.code, r.stderr).toBe(c.code);
      expect(r.stderr).toMatch(new RegExp(fill(c.stderr)));
      noStack(r);
      expect(existsSync(join(tmp, 'never')), 'no database was created').toBe(false);
    });
  }

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

  it('providers test does not call the AI provider ok without a key', async () => {
    const keyless = Object.fromEntries(
      Object.keys(process.env)
        .filter((k) => /_API_KEY$/.test(k))
        .map((k) => [k, '']),
    );
    const r = await sluice(['providers', 'test', 'llm', '--json'], keyless);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { providers: { id: string; ok: boolean; detail: string }[] };
    expect(out.providers[0]).toMatchObject({ id: 'llm', ok: false });
    expect(out.providers[0]!.detail).toMatch(
      /no AI key is set: set ANTHROPIC_API_KEY, or OPENAI_API_KEY, or PERPLEXITY_API_KEY/,
    );
  });
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

  it('exit codes and JSON: usage errors exit 2 with an error document, --json or not', async () => {
    const unknown = await sluice(['run', '--pipline', 'golf-courses', '--json'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--pipline'");
    expect(errorDoc(unknown)).toMatchObject({
      code: 'usage',
      details: { reason: 'commander.unknownOption' },
    });

    const missing = await sluice(['run', '--json'], env);
    expect(missing.code).toBe(2);
    expect(errorDoc(missing).message).toMatch(/missing --pipeline/);

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

  it('sluice run exits 1 when a budget stops the batch, with the summary and how to resume', async () => {
    const sandbox = await startSandbox({ seed: 1, fakes: { latencyScale: 0, faultRate: 0 } });
    try {
      const r = await sluice(
        [
          'run',
          '--pipeline',
          fixture('pipelines', 'budget-stop.yaml'),
          '--ids',
          '10,11,12,13,14,15',
          '--budget',
          '0.01',
          '--concurrency',
          '1',
          '--json',
        ],
        { ...env, ...sandbox.env },
      );
      expect(r.code, r.stderr).toBe(1);
      const summary = JSON.parse(r.stdout) as {
        status: string;
        stopReason: string;
        runs: { queued: number };
      };
      expect(summary.status).toBe('stopped');
      expect(summary.stopReason).toMatch(/budget/i);
      expect(summary.runs.queued).toBeGreaterThan(0);
      expect(r.stderr).toMatch(/incomplete: .*batch \d+ stopped/);
      noStack(r);
    } finally {
      await sandbox.stop();
    }
  }, 90_000);

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

  it('--ids: an id no account has is an error naming it, not a smaller batch', async () => {
    const before = await batches();
    const r = await run(
      '--pipeline',
      fixture('pipelines', 'always-fails.yaml'),
      '--ids',
      '1,99999',
      '--json',
    );
    expect(r.code).toBe(2);
    expect(errorDoc(r).message).toMatch(/no account has id 99999/);
    expect(await batches()).toBe(before);
  });

  it('a selection over the thresholds needs --yes without a terminal; nothing is queued', async () => {
    const before = await batches();
    const all = await run('--pipeline', fixture('pipelines', 'always-fails.yaml'), '--json');
    expect(all.code).toBe(2);
    const e = errorDoc(all);
    expect(e.code).toBe('confirmation_required');
    expect(e.message).toMatch(/200 records \(more than 100\).*--yes/);
    expect(e.details).toMatchObject({ records: 200, thresholds: { records: 100, costUsd: 10 } });
    const lowered = await sluice(
      ['run', '--pipeline', fixture('pipelines', 'always-fails.yaml'), '--ids', '1,2,3'],
      { ...env, SLUICE_CONFIRM_RECORDS: '2' },
    );
    expect(lowered.code).toBe(2);
    expect(lowered.stderr).toMatch(/3 records \(more than 2\)/);
    // the forecast's cost counts too: 3 paid calls at $0.006 are over a $0.01 threshold
    const costly = await sluice(
      ['run', '--pipeline', fixture('pipelines', 'budget-stop.yaml'), '--ids', '1,2,3', '--json'],
      { ...env, SLUICE_CONFIRM_USD: '0.01', PERPLEXITY_API_KEY: 'not-used' },
    );
    expect(costly.code, costly.stderr).toBe(2);
    expect(errorDoc(costly).message).toMatch(/up to \$0\.02 forecast \(more than \$0\.01\)/);
    expect(await batches()).toBe(before);
  });

  it('--dry-run honours when from stored fields, calls its figures upper bounds and shows --budget', async () => {
    const noWebsite = await countOf(
      "SELECT count(*)::int AS n FROM accounts WHERE coalesce(website, '') = ''",
    );
    expect(noWebsite).toBeGreaterThan(0);
    const r = await run(
      '--pipeline',
      fixture('pipelines', 'when-forecast.yaml'),
      '--dry-run',
      '--budget',
      '0.01',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const f = JSON.parse(r.stdout) as {
      bound: string;
      records: number;
      lines: { provider: string; calls: number; skipped: number; undecided: number }[];
      budget: { usd: number; covers: boolean };
    };
    expect(f.bound).toBe('upper');
    expect(f.records).toBe(200);
    const perplexity = f.lines.find((l) => l.provider === 'perplexity')!;
    expect(perplexity).toMatchObject({ calls: noWebsite, skipped: 200 - noWebsite, undecided: 0 });
    // the http step reads the website the first step may write: not decidable, counted for all
    expect(f.lines.find((l) => l.provider === 'http')).toMatchObject({ calls: 200, undecided: 200 });
    expect(f.budget).toMatchObject({ usd: 0.01, covers: false });
    const human = await run(
      '--pipeline',
      fixture('pipelines', 'when-forecast.yaml'),
      '--dry-run',
      '--budget',
      '0.01',
    );
    expect(human.stdout).toMatch(/upper bound: at most \d+ paid calls/);
    expect(human.stdout).not.toMatch(/expected/);
    expect(human.stdout).toMatch(/budget \$0\.01 is below the upper bound/);
  }, 60_000);

  it('pipelines: every typo of every step at once with file:line:col; run refuses the file and queues nothing', async () => {
    const file = fixture('pipelines', 'typos.yaml');
    const v = await sluice(['pipelines', 'validate', file, '--json'], env);
    expect(v.code).toBe(1);
    const issues = (
      JSON.parse(v.stdout) as { files: { issues: { line: number; col: number; message: string }[] }[] }
    ).files[0]!.issues;
    const messages = issues.map((i) => `${i.line}:${i.col} ${i.message}`);
    for (const want of [
      /^7:19 unknown field "account.webiste" \(did you mean "account.website"/,
      /^12:29 unknown field "account.domian" \(did you mean "account.domain"/,
      /^13:32 the output of hunter email-finder has no "emial".*did you mean "email"/,
      /^17:11 "id" is a column Sluice manages/,
      /^18:\d+ "created_at" is a column Sluice manages/,
      /^18:\d+ unknown function "now_iso"/,
      /^19:20 unknown field "account.nmae"/,
      /^19:36 unknown field "account.ctiy"/,
      /^25:26 unknown context "sit" \(did you mean "site"/,
      /^30:29 the answer schema of step "summary" has no "sumary"/,
    ])
      expect(
        messages.some((m) => want.test(m)),
        `${want} in\n${messages.join('\n')}`,
      ).toBe(true);
    expect(issues).toHaveLength(10);
    const before = await batches();
    const r = await run('--pipeline', file, '--ids', '1', '--dry-run');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/typos\.yaml:7:19: steps\[0\]\.when: unknown field "account\.webiste"/);
    noStack(r);
    expect(await batches()).toBe(before);
  }, 60_000);

  it('pipelines: an alias bomb and an oversized file are refused by name; the other files still validate', async () => {
    const big = join(mkdtempSync(join(tmpdir(), 'sluice-big-')), 'huge.yaml');
    writeFileSync(big, `name: huge\nsteps: []\n# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    const r = await sluice(
      [
        'pipelines',
        'validate',
        fixture('pipelines', 'alias-bomb.yaml'),
        big,
        fixture('pipelines', 'good.yaml'),
      ],
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/alias-bomb\.yaml:\d+:\d+: refused: Excessive alias count/);
    expect(r.stdout).toMatch(
      /huge\.yaml: pipeline file .*huge\.yaml is 2\.0 MB; pipeline files over 1 MB are refused unread/,
    );
    expect(r.stdout).toMatch(/good\.yaml: ok/);
    expect(r.stderr).toMatch(/2 of 3 pipeline file\(s\) are invalid/);
  });

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

  it('--data-dir beats DATABASE_URL from .env (with a warning); with SLUICE_DATA_DIR, DATABASE_URL wins and says so', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'sluice-dotenv-'));
    if (backend === 'pglite') {
      // an unreachable server in .env: the command works only if the flag wins
      writeFileSync(join(cwd, '.env'), 'DATABASE_URL=postgres://nobody@127.0.0.1:1/nowhere\n');
      const r = await sluice(['--data-dir', env.SLUICE_DATA_DIR!, 'status', '--json'], {}, { cwd });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(
        /warning: --data-dir given, so the embedded database in .* is used; DATABASE_URL \(from \.env\) is ignored/,
      );
      expect(JSON.parse(r.stdout)).toMatchObject({ accounts: 200 });
    } else {
      const r = await sluice(
        ['status', '--json'],
        { ...env, SLUICE_DATA_DIR: join(cwd, 'scratch') },
        { cwd },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(
        /warning: DATABASE_URL is set, so server PostgreSQL is used and SLUICE_DATA_DIR is ignored/,
      );
      expect(existsSync(join(cwd, 'scratch'))).toBe(false);
    }
  });
});
