import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import type { Db } from '../db/db.ts';
import { batchPipeline } from '../engine/batch.ts';
import { ConfigError } from '../errors.ts';
import { pipelineFile } from '../pipelines/resolve.ts';
import { batchStats } from './deployment-stats.ts';
import { pct, usd } from './format-pattern.ts';
import { upsertPattern } from './library.ts';
import { readPatternFile } from './pattern-file.ts';

/**
 * `sluice patterns extract BATCH`: a draft pattern from what a batch actually ran. The sequence lists
 * the pipeline's steps in order, each with what it measured (found rate and sample, providers by how
 * often they won); the pipeline file is copied as the version's template. The draft's `documented`
 * block stays empty: the figures at extraction are measured, printed as comments for the author, and
 * the library keeps measuring them from deployments. The draft is stored with origin `extracted`.
 */
export interface ExtractResult {
  slug: string;
  dir: string;
  files: string[];
  records: number;
}

interface StepNode {
  id?: unknown;
  kind?: unknown;
  providers?: unknown;
  steps?: unknown;
}

export async function extractPattern(
  db: Db,
  batchId: number,
  options: { slug?: string; out?: string } = {},
): Promise<ExtractResult> {
  const pipeline = await batchPipeline(db, batchId);
  if (pipeline === null)
    throw new ConfigError(`no batch ${batchId} (see \`sluice status\`)`, { exitCode: 2 });
  const file = await pipelineFile(pipeline);
  const text = await readFile(file, 'utf8');
  const spec = parseDocument(text).toJS() as { name?: string; description?: string; steps?: StepNode[] };
  const stats = await batchStats(db, [batchId]);
  const slug = options.slug ?? `${String(spec.name ?? 'pattern').replace(/[^a-z0-9._-]+/g, '-')}-extracted`;
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(slug))
    throw new ConfigError(`--slug "${slug}" must be lowercase letters, digits, ".", "_" or "-"`, {
      exitCode: 2,
    });
  const taken = (await db.query<{ origin: string }>('SELECT origin FROM patterns WHERE slug = $1', [slug]))
    .rows[0];
  if (taken && taken.origin !== 'extracted')
    throw new ConfigError(`a ${taken.origin} pattern "${slug}" exists; pass --slug another-name`, {
      exitCode: 2,
    });
  const sequence: string[] = [];
  const walk = (steps: StepNode[], prefix: string) => {
    for (const s of steps) {
      const id = `${prefix}${String(s.id)}`;
      const measured = stats.steps.find((x) => x.step === id);
      const providers = Array.isArray(s.providers)
        ? (s.providers as { provider?: unknown; operation?: unknown }[])
            .map((p) => {
              const pos = stats.positions.filter((x) => x.step === id && x.provider === p.provider);
              const tried = pos.reduce((a, x) => a + x.tried, 0);
              const wins = pos.reduce((a, x) => a + x.wins, 0);
              return `${String(p.provider)}.${String(p.operation)}${tried ? ` (won ${pct(wins / tried)} of ${tried})` : ''}`;
            })
            .join(' → ')
        : '';
      const found =
        measured && measured.found + measured.notFound > 0
          ? `: found ${pct(measured.hitRate)} of ${measured.found + measured.notFound} that ran`
          : '';
      sequence.push(`${id} (${String(s.kind)})${providers ? `: ${providers}` : ''}${found}`);
      if (Array.isArray(s.steps)) walk(s.steps as StepNode[], `${id}.`);
    }
  };
  walk(spec.steps ?? [], '');
  const draft = {
    name: `${spec.name ?? slug} (extracted from batch ${batchId})`,
    category: 'enrichment',
    use_case: String(spec.description ?? '').trim() || 'TODO: when to deploy this',
    context: { industries: [], stages: [] },
    tags: ['extracted'],
    signature: false,
    sequence,
    failure_modes: [],
    criteria: { min_records: 20 },
    versions: [
      {
        version: '0.1',
        released_on: new Date().toISOString().slice(0, 10),
        changelog: `Extracted from batch ${batchId} (${pipeline}).`,
        pipeline: 'pipeline.yaml',
      },
    ],
  };
  const header = [
    `# Draft pattern extracted from batch ${batchId} (${pipeline}) by \`sluice patterns extract\`.`,
    '# Fill in the use case, context, tags and failure modes. Measured when extracted (not documented',
    '# benchmarks; the library keeps measuring them from deployments):',
    `#   records ${stats.records}, coverage ${pct(stats.coverage)}, cost ${usd(stats.costPerRecordUsd)}/record,`,
    `#   ${usd(stats.costPerFoundValueUsd)}/found value (n=${stats.values}), speed p50 ${stats.speed.p50S === null ? '-' : `${stats.speed.p50S.toFixed(1)} s`} (n=${stats.speed.n})`,
  ].join('\n');
  const dir = join(options.out ?? 'patterns', slug);
  await mkdir(dir, { recursive: true });
  const patternPath = join(dir, 'pattern.yaml');
  await writeFile(patternPath, `${header}\n${stringify(draft, { lineWidth: 0 })}`);
  await writeFile(join(dir, 'pipeline.yaml'), text);
  // read back through the library's own reader: the draft is a valid pattern file
  const parsed = await readPatternFile(patternPath, options.out ?? 'patterns');
  await db.transaction(async (tx) => {
    await upsertPattern(tx, parsed, 'extracted');
  });
  return { slug, dir, files: [patternPath, join(dir, 'pipeline.yaml')], records: stats.records };
}
