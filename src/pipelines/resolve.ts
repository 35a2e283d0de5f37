import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PipelineDefinition } from '../engine/pipeline-types.ts';
import { ConfigError } from '../errors.ts';
import { type LoadedPipeline, loadPipelineFile, type ParseOptions } from './load.ts';

/** Where the built-in pipelines live (`pipelines/*.yaml` at the package root). */
export const BUILTIN_DIR = fileURLToPath(new URL('../../pipelines/', import.meta.url));

const looksLikeFile = (s: string) => /[\\/]/.test(s) || /\.ya?ml$/i.test(s);

/** Built-in pipeline names (file names without `.yaml`), sorted. */
export async function builtinPipelineNames(): Promise<string[]> {
  const files = await readdir(BUILTIN_DIR).catch(() => [] as string[]);
  return files
    .filter((f) => /\.ya?ml$/i.test(f))
    .map((f) => f.replace(/\.ya?ml$/i, ''))
    .sort();
}

/** The file a name or path refers to: a path as given, else `pipelines/<name>.yaml`. */
export async function pipelineFile(nameOrFile: string): Promise<string> {
  if (looksLikeFile(nameOrFile)) {
    if (!existsSync(nameOrFile))
      throw new ConfigError(`pipeline file ${nameOrFile} does not exist`, { exitCode: 2 });
    return nameOrFile;
  }
  for (const ext of ['.yaml', '.yml']) {
    const f = join(BUILTIN_DIR, `${nameOrFile}${ext}`);
    if (existsSync(f)) return f;
  }
  const names = await builtinPipelineNames();
  throw new ConfigError(
    `unknown pipeline "${nameOrFile}". Built-in pipelines: ${names.join(', ') || '(none)'}; or pass the path of a .yaml file.`,
    { exitCode: 2 },
  );
}

/** Loads a built-in pipeline by name, or a pipeline file by path, with its parsed spec. */
export async function loadPipeline(
  nameOrFile: string,
  options: ParseOptions = {},
): Promise<LoadedPipeline & { file: string }> {
  const file = await pipelineFile(nameOrFile);
  return { ...(await loadPipelineFile(file, options)), file };
}

/**
 * What the run engine calls: a built-in name (`golf-courses`) or a file path → PipelineDefinition.
 * The field check (check-fields.ts) is not repeated here: `sluice run` made it, with the attributes the
 * accounts store, before the batch was queued; the worker has no reason to refuse a run halfway.
 */
export async function resolvePipeline(
  nameOrFile: string,
  options: ParseOptions = { checkFields: false },
): Promise<PipelineDefinition> {
  return (await loadPipeline(nameOrFile, options)).definition;
}
