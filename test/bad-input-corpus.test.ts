import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseOpener } from '../src/cli/context.ts';
import { main } from '../src/cli/main.ts';
import type { Db } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { DEMO_CSV } from '../src/demo/run-demo.ts';
import { importFile } from '../src/import/import-file.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/start-sandbox.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { type SharedDb, sharedDb } from './helpers/shared-db.ts';

/**
 * The bad-input corpus (issue 9): one JSON file per hostile input in test/fixtures/bad-input-corpus/,
 * each a command line with the exit code, the messages and the database state it must leave (every
 * valid row in, nothing queued by accident). The CLI's `main` runs in this process, one command line
 * at a time with its own environment and captured stdout/stderr, so a case costs what the command
 * costs, not a Node start-up. One database per backend holds the demo's 200 accounts; cases use
 * distinct names so they can share it. Cases marked `"db": false` get no database settings and a data
 * dir `{tmp}/never` that must not exist afterwards (they fail before any database). The format is in
 * test/fixtures/bad-input-corpus/README.md.
 */
const CORPUS = join(import.meta.dirname, 'fixtures', 'bad-input-corpus');
const FIXTURES = join(import.meta.dirname, 'fixtures');

interface Case {
  file: string;
  issue: string;
  args: string[];
  env?: Record<string, string>;
  /** false: fails before any database; `{tmp}/never` must not exist afterwards. Default true. */
  db?: boolean;
  /** false: the shared database's variables are not passed (the case names it with a flag). */
  dbEnv?: boolean;
  backends?: ('pglite' | 'postgres')[];
  cwd?: string;
  /** Files written before the case: name (under {tmp}) -> content. */
  files?: Record<string, string>;
  /** A CSV generated into {tmp}: header, a row template with {line}, and replaced lines. */
  generate?: {
    file: string;
    header: string;
    row: string;
    rows: number;
    rowsPglite?: number;
    lines?: Record<string, string>;
  };
  /** SQL run on the case's database before it. */
  setup?: string[];
  /** Command lines run before the case (each must exit 0), e.g. an import the case reads. */
  before?: string[][];
  /** A sandbox of fake providers whose env the command gets. */
  sandbox?: boolean;
  code: number;
  stdout?: string[];
  stderr?: string[];
  notStderr?: string[];
  /** Partial match of the JSON document on stdout. */
  json?: unknown;
  /** `SELECT … AS n` queries with the number each must return after the case. */
  sql?: { query: string; n: number | string }[];
  /** true: no batch was created. */
  nothingQueued?: boolean;
  /** Paths that must not exist afterwards (a database that must not have been created). */
  absent?: string[];
}

const cases: Case[] = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ file: f, ...(JSON.parse(readFileSync(join(CORPUS, f), 'utf8')) as Omit<Case, 'file'>) }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Variables of the test process that must not reach a case (each case passes its own). */
const ISOLATED = /^(DATABASE_URL|SLUICE_.*|.*_API_KEY|.*_BASE_URL|NO_COLOR)$/;

/**
 * One command line through the CLI's `main`, in this process: the environment (and the working
 * directory) are replaced for the call and restored, stdout and stderr are captured.
 */
async function sluice(args: string[], env: Record<string, string>, cwd?: string): Promise<Run> {
  const saved = { ...process.env };
  const savedCwd = process.cwd();
  for (const k of Object.keys(process.env)) if (ISOLATED.test(k)) delete process.env[k];
  Object.assign(process.env, { NO_COLOR: '1' }, env);
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const err = process.stderr.write;
  const capture =
    (into: (s: string) => void) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      into(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      if (cb) queueMicrotask(cb);
      return true;
    };
  process.stdout.write = capture((s) => {
    stdout += s;
  }) as typeof process.stdout.write;
  process.stderr.write = capture((s) => {
    stderr += s;
  }) as typeof process.stderr.write;
  if (cwd) process.chdir(cwd);
  try {
    const code = await main(['node', 'sluice', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.chdir(savedCwd);
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

function generate(path: string, g: NonNullable<Case['generate']>, rows: number): void {
  const parts: string[] = [`${g.header}\n`];
  for (let line = 2; line <= rows + 1; line++)
    parts.push(`${g.lines?.[String(line)] ?? g.row.replaceAll('{line}', String(line))}\n`);
  writeFileSync(path, parts.join(''));
}

describe('bad-input corpus: the files', () => {
  it('every case names the issue bullet it covers and asserts an exit code and a message or a state', () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
    for (const c of cases) {
      expect(c.issue, c.file).toBeTruthy();
      expect([0, 1, 2], c.file).toContain(c.code);
      expect(
        (c.stderr?.length ?? 0) + (c.stdout?.length ?? 0) + (c.sql?.length ?? 0) + (c.json ? 1 : 0),
        c.file,
      ).toBeGreaterThan(0);
    }
  });
  it('the README of the corpus lists every case', () => {
    const readme = readFileSync(join(CORPUS, 'README.md'), 'utf8');
    for (const c of cases) expect(readme, c.file).toContain(`| \`${c.file.slice(0, -5)}\` | ${c.code} |`);
  });
});

describeEachBackend('bad-input corpus', (backend) => {
  let shared: SharedDb;
  let held: Db;
  let sandbox: Sandbox | undefined;
  beforeAll(async () => {
    shared = sharedDb(backend);
    held = await shared.open();
    await importFile(held, { file: DEMO_CSV, kind: 'accounts' });
    // The cases' commands open the shared database through the CLI's own configuration; when they
    // ask for it (that data dir, or that URL and schema) they get the handle held here (closing it
    // is the test's job) instead of one PGlite start per command. Any other target is opened for real.
    const url = shared.env.DATABASE_URL;
    const dir = shared.env.SLUICE_DATA_DIR;
    const reused = new Proxy(held, {
      get(target, prop) {
        if (prop === 'close') return async () => {};
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    databaseOpener.open = async (options) => {
      const same = url
        ? options.databaseUrl === url && options.schema === shared.env.SLUICE_DB_SCHEMA
        : !options.databaseUrl && options.dataDir !== undefined && resolve(options.dataDir) === resolve(dir!);
      return same ? reused : openDb(options);
    };
  }, 120_000);
  afterAll(async () => {
    databaseOpener.open = openDb;
    await sandbox?.stop();
    await held?.close();
    await shared?.cleanup();
  });

  const query = async (sql: string): Promise<number> =>
    Number((await held.query<{ n: number }>(sql)).rows[0]?.n ?? Number.NaN);

  for (const c of cases) {
    const skip = c.backends !== undefined && !c.backends.includes(backend);
    it.skipIf(skip)(
      `${c.file}: exit ${c.code}`,
      async () => {
        const tmp = mkdtempSync(join(tmpdir(), 'sluice-corpus-'));
        const rows = backend === 'pglite' ? (c.generate?.rowsPglite ?? c.generate?.rows) : c.generate?.rows;
        const fill = (s: string) =>
          s
            .replaceAll('{corpus}', CORPUS)
            .replaceAll('{fixtures}', FIXTURES)
            .replaceAll('{root}', join(import.meta.dirname, '..'))
            .replaceAll('{tmp}', tmp)
            .replaceAll('{host}', hostname())
            .replaceAll('{dataDir}', shared.env.SLUICE_DATA_DIR ?? '')
            .replaceAll('{rows}', String(rows ?? 0))
            .replaceAll('{valid}', String((rows ?? 0) - Object.keys(c.generate?.lines ?? {}).length));
        for (const [name, content] of Object.entries(c.files ?? {})) {
          mkdirSync(dirname(join(tmp, name)), { recursive: true });
          // `{x*N}`: N x's (an oversized file without a large fixture in the repository)
          writeFileSync(
            join(tmp, name),
            fill(content).replace(/\{x\*(\d+)\}/g, (_, n: string) => 'x'.repeat(Number(n))),
          );
        }
        if (c.generate) generate(join(tmp, c.generate.file), c.generate, rows!);
        const db = c.db ?? true;
        if (db) for (const s of c.setup ?? []) await query(fill(s));
        if (c.sandbox) sandbox ??= await startSandbox({ seed: 1, fakes: { latencyScale: 0, faultRate: 0 } });
        const env: Record<string, string> = {
          ...(db && c.dbEnv !== false ? shared.env : {}),
          ...(c.sandbox ? sandbox!.env : {}),
          ...Object.fromEntries(Object.entries(c.env ?? {}).map(([k, v]) => [k, fill(v)])),
        };
        for (const args of c.before ?? []) {
          const b = await sluice(args.map(fill), env);
          expect(b.code, `${c.file}: before ${args.join(' ')}\n${b.stderr}`).toBe(0);
        }
        const batchesBefore = c.nothingQueued ? await query('SELECT count(*)::int AS n FROM batches') : 0;

        const r = await sluice(c.args.map(fill), env, c.cwd ? fill(c.cwd) : undefined);

        const shown = `${c.file}\n--- stdout\n${r.stdout.slice(0, 3000)}\n--- stderr\n${r.stderr.slice(0, 3000)}`;
        expect(r.code, shown).toBe(c.code);
        for (const re of c.stderr ?? []) expect(r.stderr, shown).toMatch(new RegExp(fill(re)));
        for (const re of c.stdout ?? []) expect(r.stdout, shown).toMatch(new RegExp(fill(re)));
        for (const re of c.notStderr ?? []) expect(r.stderr, shown).not.toMatch(new RegExp(fill(re)));
        // never a stack trace without SLUICE_DEBUG
        expect(r.stderr, shown).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
        if (c.json !== undefined) expect(JSON.parse(r.stdout), shown).toMatchObject(c.json as object);
        if (!db) expect(existsSync(join(tmp, 'never')), `${c.file}: no database was created`).toBe(false);
        for (const p of c.absent ?? [])
          expect(existsSync(fill(p)), `${c.file}: ${p} must not exist`).toBe(false);
        for (const q of c.sql ?? [])
          expect(await query(fill(q.query)), `${c.file}: ${q.query}`).toBe(Number(fill(String(q.n))));
        if (c.nothingQueued)
          expect(await query('SELECT count(*)::int AS n FROM batches'), `${c.file}: nothing queued`).toBe(
            batchesBefore,
          );
      },
      120_000,
    );
  }
});
