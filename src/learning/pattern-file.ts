import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { LIBRARY_DIR } from './library-stamp.ts';

/**
 * The pattern library's files: `patterns/<slug>/pattern.yaml` (a pattern, its documented benchmarks
 * and its versions, whose templates are files next to it) and `patterns/intelligence/<slug>.md`
 * (an intelligence entry: YAML front matter, then the markdown body). Read and validated here; written
 * into the database by library.ts.
 */
export const PATTERNS_DIR = LIBRARY_DIR;

const slug = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, ".", "_" or "-"');

const paramSchema = z
  .object({
    description: z.string().default(''),
    type: z.enum(['string', 'number', 'integer', 'boolean']).default('string'),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    enum: z.array(z.union([z.string(), z.number()])).optional(),
  })
  .strict();
export type ParamSpec = z.infer<typeof paramSchema>;

/** What counts as a successful deployment; every set bound must hold. */
export const criteriaSchema = z
  .object({
    /** Below this many records a deployment's success is unknown (null). Default 20. */
    min_records: z.number().int().positive().optional(),
    min_coverage: z.number().min(0).max(1).optional(),
    max_cost_per_record_usd: z.number().min(0).optional(),
    max_cost_per_found_value_usd: z.number().min(0).optional(),
  })
  .strict();
export type Criteria = z.infer<typeof criteriaSchema>;

export const documentedSchema = z
  .object({
    source: z.string().optional(),
    coverage: z.number().min(0).max(1).optional(),
    cost_per_record_usd: z.number().min(0).optional(),
    speed: z.string().optional(),
    quality: z.string().optional(),
    coverage_note: z.string().optional(),
    steps: z
      .array(
        z
          .object({
            label: z.string(),
            provider: z.string().optional(),
            hit_rate: z.number().min(0).max(1).optional(),
            cost_usd: z.number().min(0).optional(),
          })
          .strict(),
      )
      .optional(),
  })
  .strict();
export type Documented = z.infer<typeof documentedSchema>;

const versionSchema = z
  .object({
    version: z.string().min(1),
    released_on: z.union([z.string(), z.date()]).optional(),
    changelog: z.string().default(''),
    /** Path of the pipeline template, relative to pattern.yaml. */
    pipeline: z.string().optional(),
    sync: z.string().optional(),
    sequence: z.string().optional(),
    params: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), paramSchema).default({}),
  })
  .strict();

export const patternFileSchema = z
  .object({
    name: z.string().min(1),
    category: z.enum(['enrichment', 'integration', 'automation']),
    use_case: z.string().default(''),
    context: z
      .object({
        industries: z.array(z.string()).default([]),
        stages: z.array(z.string()).default([]),
        company_size: z.string().optional(),
      })
      .strict()
      .default({ industries: [], stages: [] }),
    tags: z.array(z.string()).default([]),
    signature: z.boolean().default(false),
    sequence: z.array(z.string()).default([]),
    failure_modes: z.array(z.string()).default([]),
    documented: documentedSchema.default({}),
    criteria: criteriaSchema.default({}),
    versions: z.array(versionSchema).min(1, 'a pattern needs at least one version'),
  })
  .strict();

export interface PatternVersionFile {
  version: string;
  releasedOn: string | null;
  changelog: string;
  pipelineTemplate: string | null;
  syncTemplate: string | null;
  sequenceTemplate: string | null;
  params: Record<string, ParamSpec>;
}

export interface PatternFile extends Omit<z.infer<typeof patternFileSchema>, 'versions'> {
  slug: string;
  file: string;
  versions: PatternVersionFile[];
}

const entrySchema = z
  .object({
    type: z.enum(['pattern', 'playbook', 'compliance', 'timing']),
    title: z.string().min(1),
    confidence: z.enum(['low', 'medium', 'high']).optional(),
    tags: z.array(z.string()).default([]),
    industries: z.array(z.string()).default([]),
    stages: z.array(z.string()).default([]),
    related_patterns: z.array(slug).default([]),
    related_engagements: z.array(slug).default([]),
    evidence: z.array(z.object({ kind: z.string(), ref: z.string() }).strict()).default([]),
  })
  .strict();

export interface EntryFile extends z.infer<typeof entrySchema> {
  slug: string;
  file: string;
  body: string;
}

function issues(file: string, error: z.ZodError): ConfigError {
  const lines = error.issues.map((i) => `${file}: ${i.path.join('.') || '(top)'}: ${i.message}`);
  return new ConfigError(`invalid library file:\n  ${lines.join('\n  ')}`, { exitCode: 2 });
}

/** Files read, path → text (the library's stamp is made of them: library-stamp.ts). */
export type ReadFiles = Map<string, string>;

async function readText(file: string, what: string, read?: ReadFiles): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    read?.set(file, text);
    return text;
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function parseYaml(text: string, file: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length)
    throw new ConfigError(`${file}: ${doc.errors[0]!.message.split('\n')[0]}`, { exitCode: 2 });
  return doc.toJS();
}

/** Reads and validates one pattern.yaml; templates are read from the files it names. */
export async function readPatternFile(
  file: string,
  root = PATTERNS_DIR,
  read?: ReadFiles,
): Promise<PatternFile> {
  const shown = relative(process.cwd(), file) || file;
  const parsed = patternFileSchema.safeParse(parseYaml(await readText(file, 'pattern file', read), shown));
  if (!parsed.success) throw issues(shown, parsed.error);
  const dir = dirname(file);
  const template = async (p: string | undefined) =>
    p === undefined ? null : await readText(join(dir, p), `template of ${shown}`, read);
  const versions: PatternVersionFile[] = [];
  for (const v of parsed.data.versions) {
    versions.push({
      version: v.version,
      releasedOn:
        v.released_on === undefined
          ? null
          : v.released_on instanceof Date
            ? v.released_on.toISOString().slice(0, 10)
            : v.released_on,
      changelog: v.changelog,
      pipelineTemplate: await template(v.pipeline),
      syncTemplate: await template(v.sync),
      sequenceTemplate: await template(v.sequence),
      params: v.params,
    });
  }
  const name = relative(root, dir).split(/[\\/]/)[0] ?? '';
  const s = slug.safeParse(name);
  if (!s.success) throw new ConfigError(`${shown}: folder name "${name}" ${s.error.issues[0]!.message}`);
  return { ...parsed.data, slug: name, file: shown, versions };
}

/** Reads an intelligence entry: `---` front matter `---`, then the markdown body. */
export async function readEntryFile(file: string, read?: ReadFiles): Promise<EntryFile> {
  const shown = relative(process.cwd(), file) || file;
  const text = await readText(file, 'intelligence entry', read);
  const m = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/.exec(text);
  if (!m) throw new ConfigError(`${shown}: must start with YAML front matter between "---" lines`);
  const parsed = entrySchema.safeParse(parseYaml(m[1]!, shown));
  if (!parsed.success) throw issues(shown, parsed.error);
  const name = (file.split(/[\\/]/).pop() ?? '').replace(/\.md$/, '');
  return { ...parsed.data, slug: name, file: shown, body: m[2]!.trim() };
}

/** Every pattern and entry of a library folder (default: the built-in `patterns/`); `read` collects the files read. */
export async function readLibrary(
  root = PATTERNS_DIR,
  read?: ReadFiles,
): Promise<{ patterns: PatternFile[]; entries: EntryFile[] }> {
  const names = await readdir(root, { withFileTypes: true }).catch(() => []);
  const patterns: PatternFile[] = [];
  const entries: EntryFile[] = [];
  for (const d of names.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!d.isDirectory()) continue;
    if (d.name === 'intelligence') {
      const files = (await readdir(join(root, d.name))).filter((f) => f.endsWith('.md')).sort();
      for (const f of files) entries.push(await readEntryFile(join(root, d.name, f), read));
    } else patterns.push(await readPatternFile(join(root, d.name, 'pattern.yaml'), root, read));
  }
  return { patterns, entries };
}
