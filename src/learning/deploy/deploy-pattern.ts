import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Db } from '../../db/db.ts';
import { ConfigError } from '../../errors.ts';
import { parseSequence } from '../../outreach/load-sequence.ts';
import { parsePipeline } from '../../pipelines/load.ts';
import { parseSync } from '../../sync/load-sync.ts';
import { createDeployment, ensureEngagement, patternVersionId } from '../deployments.ts';
import type { ParamSpec } from '../pattern-file.ts';
import {
  describeMissing,
  type MissingParam,
  type ParamValue,
  renderTemplate,
  resolveParams,
} from './render-template.ts';

/**
 * `sluice patterns deploy`: a pattern version's templates, filled with the deployment's parameters,
 * validated (the pipeline by the pipeline loader with the provider registry, a sync by the sync loader)
 * and written; the deployment is recorded with `attach_runs`, so the batches that run the written file
 * become its batches (attachDeployedBatches, attach-batches.ts). Missing parameters are asked for (`ask`), or refused with
 * the list of what is missing.
 */
export interface DeployRequest {
  /** `slug` or `slug@version`. */
  pattern: string;
  engagement: string;
  params: Record<string, ParamValue>;
  /** Pipeline file to write. Default `pipelines/<pipeline name>.yaml` under `cwd`. */
  out?: string;
  /** Overwrite files that exist with other content. */
  force?: boolean;
  /** Asks for missing parameters (a terminal); without it they are an error. */
  ask?: (missing: MissingParam[]) => Promise<Record<string, ParamValue>>;
  cwd?: string;
}

export interface DeployedFile {
  kind: 'pipeline' | 'sync' | 'sequence';
  path: string;
  /** Validated by its loader (pipeline, sync and sequence loaders) before anything is written. */
  validated: boolean;
  unchanged: boolean;
}

export interface DeployResult {
  deploymentId: number;
  pattern: string;
  version: string;
  engagement: string;
  engagementCreated: boolean;
  params: Record<string, ParamValue>;
  pipeline: string;
  files: DeployedFile[];
}

interface VersionRow {
  id: number;
  version: string;
  pipeline_template: string | null;
  sync_template: string | null;
  sequence_template: string | null;
  params: Record<string, ParamSpec>;
}

export async function deployPattern(db: Db, req: DeployRequest): Promise<DeployResult> {
  const cwd = req.cwd ?? process.cwd();
  const versionId = await patternVersionId(db, req.pattern);
  const v = (
    await db.query<VersionRow>(
      `SELECT id, version, pipeline_template, sync_template, sequence_template, params
         FROM pattern_versions WHERE id = $1`,
      [versionId],
    )
  ).rows[0]!;
  const slug = req.pattern.split('@')[0]!;
  if (!v.pipeline_template)
    throw new ConfigError(`${slug} v${v.version} has no pipeline template to deploy`, { exitCode: 2 });
  let { values, missing } = resolveParams(v.params, req.params);
  if (missing.length && req.ask) {
    const answered = await req.ask(missing);
    ({ values, missing } = resolveParams(v.params, { ...req.params, ...answered }));
  }
  if (missing.length)
    throw new ConfigError(
      `${slug} v${v.version} needs ${missing.length} more parameter${missing.length > 1 ? 's' : ''}; pass --param name=value for:\n${describeMissing(missing)}`,
      { exitCode: 2 },
    );

  const pipelineText = renderTemplate(
    v.pipeline_template,
    values,
    `${slug} v${v.version}'s pipeline template`,
  );
  // validated before anything is written or recorded: a template that does not compile is not deployed
  const loaded = parsePipeline(pipelineText, req.out ?? `${slug} (rendered)`);
  const name = loaded.definition.name;
  const pipelinePath = req.out ?? join('pipelines', `${name}.yaml`);
  const planned: { kind: DeployedFile['kind']; path: string; text: string; validated: boolean }[] = [
    { kind: 'pipeline', path: pipelinePath, text: pipelineText, validated: true },
  ];
  if (v.sync_template) {
    const text = renderTemplate(v.sync_template, values, `${slug} v${v.version}'s sync template`);
    const path = join('syncs', `${name}.yaml`);
    parseSync(text, path);
    planned.push({ kind: 'sync', path, text, validated: true });
  }
  if (v.sequence_template) {
    const text = renderTemplate(v.sequence_template, values, `${slug} v${v.version}'s sequence template`);
    const path = join('sequences', `${name}.yaml`);
    parseSequence(text, path);
    planned.push({ kind: 'sequence', path, text, validated: true });
  }
  const files: DeployedFile[] = [];
  for (const f of planned) {
    const abs = resolve(cwd, f.path);
    const existing = existsSync(abs) ? await readFile(abs, 'utf8') : null;
    if (existing !== null && existing !== f.text && !req.force)
      throw new ConfigError(
        `${f.path} exists with other content; pass --force to overwrite it, or --out another file`,
        {
          exitCode: 2,
        },
      );
    files.push({ kind: f.kind, path: f.path, validated: f.validated, unchanged: existing === f.text });
  }

  const known = await db.query('SELECT 1 FROM engagements WHERE slug = $1', [req.engagement]);
  const result = await db.transaction(async (tx) => {
    const engagementId = await ensureEngagement(tx, { slug: req.engagement, name: req.engagement });
    const deploymentId = await createDeployment(tx, {
      engagementId,
      patternVersionId: v.id,
      pipeline: pipelinePath,
      params: values,
    });
    await tx.query('UPDATE deployments SET attach_runs = true WHERE id = $1', [deploymentId]);
    // written last, inside the transaction: a file that cannot be written leaves no deployment behind
    for (const f of planned) {
      const abs = resolve(cwd, f.path);
      await mkdir(dirname(abs), { recursive: true });
      await writeFile(abs, f.text);
    }
    return deploymentId;
  });
  return {
    deploymentId: result,
    pattern: slug,
    version: v.version,
    engagement: req.engagement,
    engagementCreated: known.rows.length === 0,
    params: values,
    pipeline: pipelinePath,
    files,
  };
}
