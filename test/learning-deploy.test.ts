import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { attachDeployedBatches } from '../src/learning/deploy/attach-batches.ts';
import { deployPattern } from '../src/learning/deploy/deploy-pattern.ts';
import { renderTemplate, resolveParams } from '../src/learning/deploy/render-template.ts';
import { syncLibrary } from '../src/learning/library.ts';
import { SEQUENCES_DIR } from '../src/outreach/load-sequence.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';

it('checks parameters against their spec and refuses placeholders the version does not declare', () => {
  const specs = {
    name: { description: 'pipeline name', type: 'string' as const },
    n: { description: '', type: 'integer' as const, default: 3 },
    mode: { description: '', type: 'string' as const, enum: ['a', 'b'], default: 'a' },
    on: { description: '', type: 'boolean' as const, default: false },
  };
  expect(resolveParams(specs, { on: 'yes', n: '7' })).toEqual({
    values: { n: 7, mode: 'a', on: true },
    missing: [{ name: 'name', spec: specs.name }],
  });
  expect(() => resolveParams(specs, { n: '2.5' })).toThrow(/n must be an integer/);
  expect(() => resolveParams(specs, { mode: 'c' })).toThrow(/mode must be one of a, b/);
  expect(() => resolveParams(specs, { name: 'x\ny: 1' })).toThrow(/line breaks/);
  expect(() => resolveParams(specs, { colour: 'red' })).toThrow(/unknown parameter colour/);
  const ph = (name: string) => `$${'{'}${name}}`; // a template's placeholder, not a JS template
  expect(renderTemplate(`a: ${ph('n')}, b: ${ph('on')}`, { n: 7, on: true }, 't')).toBe('a: 7, b: true');
  expect(() => renderTemplate(`a: ${ph('nope')}`, {}, 't')).toThrow(/uses \$\{nope\}/);
});

describeEachBackend('template deployer', (backend) => {
  let db: Db;
  let cwd: string;
  beforeAll(async () => {
    db = await openTestDb(backend);
    cwd = await mkdtemp(join(tmpdir(), 'sluice-deploy-'));
    await syncLibrary(db);
  }, 60_000);
  const count = async (table: 'deployments' | 'engagements') =>
    (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n;
  afterAll(async () => {
    await db?.close();
    await rm(cwd, { recursive: true, force: true });
  });

  it('fails listing the missing parameters and records nothing', async () => {
    await expect(
      deployPattern(db, { pattern: 'enterprise-contact-waterfall', engagement: 'acme', params: {}, cwd }),
    ).rejects.toThrow(
      /needs 1 more parameter; pass --param name=value for:\n {2}name \(string\): name of the pipeline/,
    );
    expect(await count('deployments')).toBe(0);
    expect(await count('engagements')).toBe(0);
  });

  it('refuses a template that does not validate, before writing or recording anything', async () => {
    await expect(
      deployPattern(db, {
        pattern: 'enterprise-contact-waterfall',
        engagement: 'acme',
        params: { name: 'acme', accept_all: 'maybe' },
        cwd,
      }),
    ).rejects.toThrow(/accept_all must be true or false/);
    await expect(
      deployPattern(db, {
        pattern: 'enterprise-contact-waterfall',
        engagement: 'acme',
        params: { name: '{x' },
        cwd,
      }),
    ).rejects.toThrow();
    expect(await count('deployments')).toBe(0);
    expect(existsSync(join(cwd, 'pipelines'))).toBe(false);
  });

  it('writes the filled, validated pipeline, records the deployment, and attaches the batches that run it', async () => {
    const asked: string[] = [];
    const r = await deployPattern(db, {
      pattern: 'enterprise-contact-waterfall@1.0',
      engagement: 'acme',
      params: { accept_all: 'true' },
      cwd,
      ask: async (missing) => {
        asked.push(...missing.map((m) => m.name));
        return { name: 'acme-emails' };
      },
    });
    expect(asked).toEqual(['name']);
    expect(r).toMatchObject({
      version: '1.0',
      engagementCreated: true,
      pipeline: join('pipelines', 'acme-emails.yaml'),
      params: { name: 'acme-emails', accept_all: true },
      files: [{ kind: 'pipeline', validated: true, unchanged: false }],
    });
    const text = await readFile(join(cwd, 'pipelines', 'acme-emails.yaml'), 'utf8');
    expect(text).toContain('name: acme-emails');
    expect(text).toContain("(true and output.status == 'accept_all')");
    expect(text).not.toContain('${');
    const d = await db.query<{ pipeline: string; params: unknown; attach_runs: boolean }>(
      'SELECT pipeline, params, attach_runs FROM deployments WHERE id = $1',
      [r.deploymentId],
    );
    expect(d.rows[0]).toEqual({
      pipeline: join('pipelines', 'acme-emails.yaml'),
      params: { name: 'acme-emails', accept_all: true },
      attach_runs: true,
    });
    // a second deploy with other values would overwrite the file: refused without --force
    await expect(
      deployPattern(db, {
        pattern: 'enterprise-contact-waterfall',
        engagement: 'acme',
        params: { name: 'acme-emails' },
        cwd,
      }),
    ).rejects.toThrow(/exists with other content; pass --force/);
    const again = await deployPattern(db, {
      pattern: 'enterprise-contact-waterfall',
      engagement: 'acme',
      params: { name: 'acme-emails', accept_all: true },
      cwd,
    });
    expect(again).toMatchObject({ engagementCreated: false, files: [{ unchanged: true }] });
    expect(await count('deployments')).toBe(2);
    await writeFile(join(cwd, 'note.txt'), 'x');
    // batches: the deployed file (given as ./path), another pipeline, and one queued before the deployment
    await db.query(
      `INSERT INTO batches (pipeline, status, created_at) VALUES
         ('./pipelines/acme-emails.yaml', 'done', now() + interval '1 second'),
         ('golf-courses', 'done', now() + interval '1 second'),
         ('pipelines/acme-emails.yaml', 'done', now() - interval '1 day')`,
    );
    expect(await attachDeployedBatches(db, cwd)).toBe(1);
    expect(await attachDeployedBatches(db, cwd)).toBe(0);
    const attached = await db.query<{ pipeline: string }>(
      `SELECT b.pipeline FROM deployment_batches x JOIN batches b ON b.id = x.batch_id WHERE x.deployment_id = $1`,
      [again.deploymentId], // the latest deployment of that file takes the batch
    );
    expect(attached.rows).toEqual([{ pipeline: './pipelines/acme-emails.yaml' }]);
  });

  it('validates a sequence template with the sequence loader before writing it', async () => {
    // a person's pattern: the enterprise waterfall's pipeline with a sequence template
    await db.query(
      `INSERT INTO patterns (slug, name, category, use_case, industries, stages, company_size, architecture,
                             failure_modes, tags, signature, documented, criteria, origin)
       SELECT 'seq-check', name, category, use_case, industries, stages, company_size, architecture,
              failure_modes, tags, false, documented, criteria, 'user'
         FROM patterns WHERE slug = 'enterprise-contact-waterfall'`,
    );
    const version = (sequence: string) =>
      db.query(
        `INSERT INTO pattern_versions (pattern_id, version, released_on, changelog, pipeline_template, sync_template,
                                       sequence_template, params)
         SELECT (SELECT id FROM patterns WHERE slug = 'seq-check'), $1, released_on, changelog, pipeline_template,
                NULL, $2, params
           FROM pattern_versions WHERE pattern_id = (SELECT id FROM patterns WHERE slug = 'enterprise-contact-waterfall')
          ORDER BY id LIMIT 1`,
        [sequence.length > 40 ? '1.1' : '1.0', sequence],
      );
    await version('name: broken\nchannel: pigeon\n');
    const before = await count('deployments');
    await expect(
      deployPattern(db, { pattern: 'seq-check@1.0', engagement: 'acme', params: { name: 'seqcheck' }, cwd }),
    ).rejects.toThrow(/sequence (is invalid|has \d+ problems)/);
    expect(await count('deployments')).toBe(before);
    expect(existsSync(join(cwd, 'sequences'))).toBe(false);
    await version(await readFile(join(SEQUENCES_DIR, 'golf-contacted.yaml'), 'utf8'));
    const r = await deployPattern(db, {
      pattern: 'seq-check@1.1',
      engagement: 'acme',
      params: { name: 'seqcheck' },
      cwd,
    });
    expect(r.files.map((f) => [f.kind, f.path, f.validated])).toEqual([
      ['pipeline', join('pipelines', 'seqcheck.yaml'), true],
      ['sequence', join('sequences', 'seqcheck.yaml'), true],
    ]);
    expect(existsSync(join(cwd, 'sequences', 'seqcheck.yaml'))).toBe(true);
  });
});
