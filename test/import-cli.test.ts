import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL, uniqueSchema } from './helpers/backends.ts';

const ROOT = join(import.meta.dirname, '..');
const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (bin/sluice.js) in a child process, as a user would. */
function sluice(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    // the parent's database settings must not leak into the child
    const { DATABASE_URL: _u, SLUICE_DB_SCHEMA: _s, SLUICE_DATA_DIR: _d, ...base } = process.env;
    const child = spawn(process.execPath, ['bin/sluice.js', ...args], {
      cwd: ROOT,
      env: { ...base, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The CLI against each backend: a temp data dir, or a fresh schema on the test server. */
const targets: { name: string; args: string[]; env: Record<string, string>; schema?: string }[] = [
  { name: 'pglite', args: ['--data-dir', mkdtempSync(join(tmpdir(), 'sluice-cli-'))], env: {} },
];
if (TEST_DATABASE_URL) {
  const schema = uniqueSchema('cli');
  targets.push({
    name: 'postgres',
    args: [],
    env: { DATABASE_URL: TEST_DATABASE_URL, SLUICE_DB_SCHEMA: schema },
    schema,
  });
}

afterAll(async () => {
  for (const t of targets) {
    if (!t.schema || !TEST_DATABASE_URL) continue;
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${t.schema}" CASCADE`);
    await client.end();
  }
});

for (const t of targets) {
  describe(`sluice import/status/export [${t.name}]`, () => {
    it('imports with a JSON summary, re-imports adding nothing, and reports and exports the result', async () => {
      // 2 of 12 rows rejected: over the default --max-rejected 10%, so the import says so and exits 1
      const first = await sluice([...t.args, 'import', fixture('accounts-messy.csv'), '--json'], t.env);
      expect(first.code, first.stderr).toBe(1);
      expect(first.stderr).toContain('2 of 12 rows (16.7%) were rejected, more than --max-rejected 10%');
      const r = JSON.parse(first.stdout) as Record<string, unknown>;
      expect(r).toMatchObject({ inserted: 6, merged: 3, rejected: 2, overLimit: true, maxRejected: '10%' });
      expect(r.errors).toEqual([
        { line: 11, reason: 'no company name, and "n/a" is not a domain or website' },
        { line: 14, reason: '9 values but the header has 7 columns (an unquoted delimiter inside a value?)' },
      ]);

      const again = await sluice(
        [...t.args, 'import', fixture('accounts-messy.csv'), '--max-rejected', '20%'],
        t.env,
      );
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/inserted\s+0\n/);
      expect(again.stdout).toContain('line 11: no company name');

      const status = await sluice([...t.args, 'status', '--json'], t.env);
      expect(JSON.parse(status.stdout)).toMatchObject({
        database: { backend: t.name },
        accounts: 6,
        imports: 2,
        lastImport: { kind: 'accounts', inserted: 0, unchanged: 10, rejected: 2, status: 'done' },
      });

      const csv = await sluice([...t.args, 'export', '--kind', 'accounts'], t.env);
      expect(csv.code, csv.stderr).toBe(0);
      expect(csv.stdout.trim().split('\n')[0]).toMatch(/^id,name,domain,/);
      expect(csv.stdout).toContain('"Pebble Beach Golf Links, Inc.",pebblebeach.com');

      const out = join(mkdtempSync(join(tmpdir(), 'sluice-out-')), 'accounts.json');
      const file = await sluice([...t.args, 'export', '--format', 'json', '--out', out, '--json'], t.env);
      expect(JSON.parse(file.stdout)).toEqual({ file: out, kind: 'accounts', format: 'json', records: 6 });
      expect(JSON.parse(readFileSync(out, 'utf8'))).toHaveLength(6);
    }, 240_000); // six CLI processes: over 60 s on PGlite at load 20
  });
}

describe('sluice import exit codes', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  it('exits 1 naming a file it cannot read', async () => {
    const r = await sluice(['--data-dir', dataDir, 'import', 'no/such/file.csv']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot read no/such/file.csv: no such file');
  });

  it('exits 2 on bad flags', async () => {
    const kind = await sluice([
      '--data-dir',
      dataDir,
      'import',
      fixture('accounts-messy.csv'),
      '--kind',
      'people',
    ]);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toContain('people');
    const map = await sluice([
      '--data-dir',
      dataDir,
      'import',
      fixture('accounts-messy.csv'),
      '--map',
      'Company',
    ]);
    expect(map.code).toBe(2);
    expect(map.stderr).toContain('expected "CSV header=field"');
    const region = await sluice([
      '--data-dir',
      dataDir,
      'import',
      fixture('accounts-messy.csv'),
      '--region',
      'XX',
    ]);
    expect(region.code).toBe(2);
    expect(region.stderr).toContain('--region XX');
  });
});
