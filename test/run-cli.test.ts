import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
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

const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));

/** One free step through the real website provider (served by the sandbox's fake sites). */
const PIPELINE = `name: cli-test
steps:
  - id: page
    kind: waterfall
    when: present(account.website)
    fields: [page_title]
    providers:
      - provider: website
        operation: fetch-page
        input: { url: "{{account.website}}" }
        output: { page_title: title }
`;

describeEachBackend('sluice run (CLI)', (backend) => {
  let shared: SharedDb;
  let sandbox: Sandbox;
  let pipelineFile: string;
  beforeEach(async () => {
    shared = sharedDb(backend);
    sandbox = await startSandbox({ seed: 1, fakes: { latencyScale: 0, faultRate: 0 } });
    pipelineFile = join(mkdtempSync(join(tmpdir(), 'sluice-pipeline-')), 'cli-test.yaml');
    writeFileSync(pipelineFile, PIPELINE);
    const db = await shared.open();
    await importFile(db, { file: DEMO_CSV, kind: 'accounts' });
    await db.close();
  });
  afterEach(async () => {
    await sandbox.stop();
    await shared.cleanup();
  });

  // Asynchronous: the sandbox serves from this process, so its event loop must keep running.
  const sluice = async (...args: string[]) => {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...shared.env, ...sandbox.env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return JSON.parse(r.stdout) as {
      batch: number;
      calls: number;
      cacheHits: number;
      runs: { enriched: number; partial: number };
    } & Record<string, unknown>;
  };

  it('forecasts, runs a batch to the end with a JSON summary, and a second run pays nothing', async () => {
    const forecast = await sluice('run', '--pipeline', pipelineFile, '--limit', '4', '--dry-run', '--json');
    expect(forecast).toMatchObject({ dryRun: true, pipeline: 'cli-test', records: 4 });

    const first = await sluice('run', '--pipeline', pipelineFile, '--limit', '4', '--json');
    expect(first).toMatchObject({
      pipeline: 'cli-test',
      status: 'done',
      runs: { total: 4, failed: 0, queued: 0 },
    });
    expect(first.runs.enriched + first.runs.partial).toBe(4);
    expect(first.calls).toBeGreaterThan(0);
    expect(first.cacheHits).toBe(0);

    const second = await sluice('run', '--pipeline', pipelineFile, '--limit', '4', '--json');
    // nothing is paid again: fields already filled are skipped, any call left is a cache hit
    expect(second).toMatchObject({ status: 'done', runs: { total: 4, failed: 0 } });
    expect(second.calls).toBe(second.cacheHits);
    expect(second.batch).toBe(first.batch + 1);
  }, 90_000);

  it('refuses to start a pipeline whose keys are missing, naming every variable, and queues nothing', async () => {
    const keyless = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/_API_KEY$|^SLUICE_.*_BASE_URL$/.test(k)),
    );
    const failed = await promisify(execFile)(
      process.execPath,
      [BIN, 'run', '--pipeline', 'golf-courses', '--limit', '2', '--json'],
      { env: { ...keyless, ...shared.env }, encoding: 'utf8', timeout: 60_000 },
    ).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    for (const v of ['HUNTER_API_KEY', 'APOLLO_API_KEY', 'PERPLEXITY_API_KEY', 'ANTHROPIC_API_KEY']) {
      expect(failed?.stderr).toContain(v);
    }
    const db = await shared.open();
    const batches = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM batches');
    await db.close();
    expect(batches.rows[0]?.n).toBe(0);
  }, 90_000);
});
