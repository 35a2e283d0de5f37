import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { DEMO_CSV } from '../src/demo/run-demo.ts';
import { importFile } from '../src/import/import-file.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/start-sandbox.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { type SharedDb, sharedDb } from './helpers/shared-db.ts';

/**
 * Planted keys, found nowhere: recognisable secrets go in as a provider key in the environment
 * (Hunter, Anthropic), as a wrong provider key and as a `{{secret.NAME}}` header of an http step.
 * A succeeding and a failing pipeline run through the CLI (bin/sluice.js, child processes) with debug
 * logs to a rolled file; then every table of the database (every row cast to text, all schemas),
 * every log line, every command's stdout and stderr, and every export are searched for each key.
 */
const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));
const tag = Math.random().toString(36).slice(2, 10);
const PLANTED = {
  hunterKey: `PLANTEDhunter${tag}Key`,
  anthropicKey: `PLANTEDanthropic${tag}Key`,
  wrongHunterKey: `PLANTEDwrong${tag}Key`,
  headerToken: `PLANTEDheader${tag}Token`,
};
/** Written in the pipeline file itself: it must not spread from there into rows, messages or logs. */
const PLANTED_LITERAL = `PLANTEDliteral${tag}Key`;

const OK_PIPELINE = `name: leak-ok
steps:
  - id: pattern
    kind: waterfall
    when: present(account.domain)
    fields: [email_pattern]
    providers:
      - provider: hunter
        operation: domain-search
        input: { domain: "{{account.domain}}" }
        output: { email_pattern: pattern }
  - id: holes
    kind: ai
    model: anthropic:claude-haiku-4-5
    prompt: "How many holes has {{account.name}}? Answer from this text: {{account.name}} is an 18-hole course."
    schema:
      type: object
      properties: { holes: { type: [integer, "null"] } }
      required: [holes]
    output: { holes: holes }
`;

// Every call fails: an invalid input next to secret headers (one written into the file, as users
// do before they learn `{{secret.NAME}}`), a provider that rejects its (wrong) key, and a refused
// address behind a secret header, required, so the run fails into the dead-letter queue.
const FAIL_PIPELINE = `name: leak-fail
steps:
  - id: bad_input
    kind: http
    method: GET
    url: "{{account.name}}"
    headers:
      Authorization: "Bearer {{secret.PLANTED_TOKEN}}"
      X-Api-Key: "${PLANTED_LITERAL}"
    output: { other_status: status }
  - id: people
    kind: waterfall
    fields: [owner_email]
    providers:
      - provider: hunter
        operation: email-finder
        input: { domain: "{{account.domain}}", first_name: Ann, last_name: Lee }
        output: { owner_email: email }
  - id: hook
    kind: http
    required: true
    method: POST
    url: "http://127.0.0.1:9/hook?domain={{urlencode(account.domain)}}"
    headers:
      Authorization: "Bearer {{secret.PLANTED_TOKEN}}"
    body: { domain: "{{account.domain}}" }
    output: { hook_status: status }
`;

describeEachBackend('planted keys (CLI)', (backend) => {
  let shared: SharedDb;
  let sandbox: Sandbox;
  let dir: string;
  beforeEach(async () => {
    shared = sharedDb(backend);
    sandbox = await startSandbox({
      seed: 1,
      fakes: { latencyScale: 0, faultRate: 0 },
      perProvider: { hunter: { apiKey: PLANTED.hunterKey }, anthropic: { apiKey: PLANTED.anthropicKey } },
    });
    dir = mkdtempSync(join(tmpdir(), 'sluice-leak-'));
    writeFileSync(join(dir, 'leak-ok.yaml'), OK_PIPELINE);
    writeFileSync(join(dir, 'leak-fail.yaml'), FAIL_PIPELINE);
    const db = await shared.open();
    await importFile(db, { file: DEMO_CSV, kind: 'accounts' });
    await db.close();
  });
  afterEach(async () => {
    await sandbox.stop();
    await shared.cleanup();
  });

  const outputs: string[] = [];
  const logDir = () => join(dir, 'logs');
  // Asynchronous: the sandbox serves from this process, so its event loop must keep running.
  const sluice = async (env: Record<string, string>, ...args: string[]) => {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: {
        ...process.env,
        ...shared.env,
        ...sandbox.env,
        SLUICE_LOG_LEVEL: 'trace',
        SLUICE_LOG_FILE: join(logDir(), 'sluice.log'),
        ...env,
      },
      encoding: 'utf8',
      timeout: 90_000,
    }).then(
      (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    outputs.push(r.stdout, r.stderr);
    return r;
  };

  it('are in no table, log line, message or export after a succeeding and a failing pipeline', async () => {
    const good = { HUNTER_API_KEY: PLANTED.hunterKey, ANTHROPIC_API_KEY: PLANTED.anthropicKey };
    const ok = await sluice(good, 'run', '--pipeline', join(dir, 'leak-ok.yaml'), '--limit', '3', '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'done', runs: { total: 3, failed: 0 } });

    const bad = { HUNTER_API_KEY: PLANTED.wrongHunterKey, PLANTED_TOKEN: PLANTED.headerToken };
    const failed = await sluice(
      bad,
      'run',
      '--pipeline',
      join(dir, 'leak-fail.yaml'),
      '--limit',
      '2',
      '--json',
    );
    expect(failed.code).toBe(1);
    // The failures are real and explained: refused address, invalid input (field named), rejected key.
    const dlq = await sluice(bad, 'dlq', 'list', '--json');
    const runs = (JSON.parse(dlq.stdout) as { runs: { runId: number }[] }).runs;
    expect(runs.length).toBe(2);
    const shown = await sluice(bad, 'dlq', 'show', String(runs[0]!.runId));
    expect(shown.stdout).toMatch(/127\.0\.0\.1|address/);
    await sluice(bad, 'ledger', '--json', '--limit', '500');
    for (const [kind, format] of [
      ['accounts', 'csv'],
      ['contacts', 'json'],
    ] as const) {
      const out = join(dir, `export-${kind}.${format}`);
      await sluice(good, 'export', '--kind', kind, '--format', format, '--provenance', '--out', out);
      outputs.push(readFileSync(out, 'utf8'));
    }

    const logs = readdirSync(logDir()).map((f) => readFileSync(join(logDir(), f), 'utf8'));
    const lines = logs.join('').split('\n').filter(Boolean);
    // The logger ran in every command (debug lines), and its lines are JSON.
    expect(lines.filter((l) => l.includes('"command started"')).length).toBeGreaterThanOrEqual(7);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();

    const db = await shared.open();
    try {
      const tables = await db.query<{ s: string; t: string }>(
        `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
          WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
            AND (table_schema = current_schema() OR table_schema LIKE current_schema() || '%')`,
      );
      expect(tables.rows.map((r) => r.t)).toEqual(
        expect.arrayContaining(['runs', 'ledger', 'cache_entries', 'field_values']),
      );
      for (const secret of [...Object.values(PLANTED), PLANTED_LITERAL]) {
        for (const { s, t } of tables.rows) {
          const hit = await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM "${s}"."${t}" x WHERE x::text LIKE '%' || $1 || '%'`,
            [secret],
          );
          expect(hit.rows[0]!.n, `${secret} in ${s}.${t}`).toBe(0);
        }
        for (const [i, text] of [...outputs, ...logs].entries())
          expect(text.includes(secret), `${secret} in output ${i}: ${text.slice(0, 300)}`).toBe(false);
      }
      // Not vacuous: the keys were used, the calls made and recorded.
      const ledger = await db.query<{ provider: string; status: string; n: number }>(
        `SELECT provider, status, count(*)::int AS n FROM ledger GROUP BY 1, 2`,
      );
      expect(ledger.rows).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ provider: 'hunter', status: 'found' }),
          expect.objectContaining({ provider: 'llm', status: 'found' }),
          expect.objectContaining({ provider: 'hunter', status: 'error' }),
          expect.objectContaining({ provider: 'http', status: 'error' }),
        ]),
      );
      // The invalid input was reported, naming the field, without the headers next to it.
      const reported: string[] = [];
      for (const { s, t } of tables.rows) {
        const r = await db.query<{ t: string }>(
          `SELECT x::text AS t FROM "${s}"."${t}" x WHERE x::text LIKE '%invalid input for http.request%'`,
        );
        reported.push(...r.rows.map((row) => row.t));
      }
      expect(reported.length).toBeGreaterThan(0);
      for (const text of reported) expect(text).toMatch(/field \W*url\W* Invalid URL/);
    } finally {
      await db.close();
    }
  }, 240_000);
});
