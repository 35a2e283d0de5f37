import { readFile, stat } from 'node:fs/promises';
import { relative } from 'node:path';
import { isMap, isNode, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, Scalar } from 'yaml';
import type { z } from 'zod';
import type { PipelineDefinition } from '../engine/pipeline-types.ts';
import { ConfigError } from '../errors.ts';
import type { ProviderDefinition } from '../providers/define-provider.ts';
import { providers as registered } from '../providers/registry.ts';
import { checkFields } from './check-fields.ts';
import { compilePipeline } from './compile.ts';
import { type PipelineSpec, pipelineSchema, type StepSpec } from './schema.ts';
import { SpecError, SpecErrors } from './spec-error.ts';
import { AI_OPERATION, AI_PROVIDER } from './steps/ai.ts';

/**
 * Loads a pipeline file: YAML → zod validation → compilation. Every problem is reported as
 * `file:line:col: path.to.field: message`, the line found by mapping the issue's path back into the
 * YAML document (yaml's parseDocument + LineCounter).
 */
export interface PipelineIssue {
  file: string;
  line: number;
  col: number;
  /** `steps[2].providers[0].operation` */
  field: string;
  message: string;
}

export class PipelineFileError extends ConfigError {
  constructor(readonly issues: PipelineIssue[]) {
    const shown = issues.slice(0, 10).map(formatIssue);
    const more = issues.length > 10 ? [`…and ${issues.length - 10} more`] : [];
    super(
      `${issues.length === 1 ? 'pipeline file is invalid' : `pipeline file has ${issues.length} problems`}:\n  ${[...shown, ...more].join('\n  ')}\nFix the file, then check it with \`sluice pipelines validate <file>\`.`,
    );
  }
}

export function formatIssue(i: PipelineIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.field ? `${i.field}: ` : ''}${i.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

export interface LoadedPipeline {
  spec: PipelineSpec;
  definition: PipelineDefinition;
}

export interface ParseOptions {
  /** Check provider, operation and input names against the registry. Default true (tests of step semantics with made-up providers turn it off). */
  checkProviders?: boolean;
  /** Check every field read against the schema, reserved columns and output paths (check-fields.ts). Default: as checkProviders. */
  checkFields?: boolean;
  /** Attributes known to exist (e.g. what imports stored), besides those the pipeline writes or declares. */
  knownAttributes?: { account?: readonly string[]; contact?: readonly string[] };
}

/** Larger pipeline files are refused unread (a pipeline is a page of YAML; 30 MB would take GBs to parse). */
export const MAX_PIPELINE_BYTES = 1024 * 1024;
/** YAML aliases expanded at most (yaml's maxAliasCount): a "billion laughs" file is refused, not expanded. */
export const MAX_ALIAS_COUNT = 100;

/** Parses and compiles pipeline text; `file` is used in messages only. */
export function parsePipeline(text: string, file: string, options: ParseOptions = {}): LoadedPipeline {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length) {
    throw new PipelineFileError(
      doc.errors.map((e) => ({ file, ...pos(e.pos[0]), field: '', message: e.message.split('\n')[0]! })),
    );
  }
  const locate = (path: readonly PropertyKey[], key?: string) => {
    const node = nodeAt(doc.contents, path, key);
    return pos(node?.range?.[0] ?? 0);
  };
  /** Like locate, moved to `offset` inside a one-line plain or quoted scalar (where a name is). */
  const locateAt = (path: readonly PropertyKey[], offset: number | undefined) => {
    const node = nodeAt(doc.contents, path);
    const start = node?.range?.[0] ?? 0;
    if (offset === undefined || !isScalar(node) || typeof node.value !== 'string') return pos(start);
    const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE;
    const plain = node.type === Scalar.PLAIN;
    const raw = text.slice(start, node.range?.[1] ?? start);
    if ((!plain && !quoted) || raw.includes('\n') || (quoted && /\\|''/.test(raw))) return pos(start);
    return pos(start + offset + (quoted ? 1 : 0));
  };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml: "Excessive alias count indicates a resource exhaustion attack"
    throw new PipelineFileError([
      {
        file,
        ...pos(0),
        field: '',
        message: `refused: ${(err as Error).message} (more than ${MAX_ALIAS_COUNT} alias expansions); write the values out instead of nesting aliases`,
      },
    ]);
  }
  const parsed = pipelineSchema.safeParse(data);
  if (!parsed.success) {
    throw new PipelineFileError(parsed.error.issues.flatMap((issue) => zodIssues(issue, file, locate)));
  }
  const problems = options.checkProviders !== false ? checkProviders(parsed.data) : [];
  if (options.checkFields ?? options.checkProviders !== false)
    problems.push(
      ...checkFields(parsed.data, {
        providers: registered,
        ...(options.knownAttributes ? { knownAttributes: options.knownAttributes } : {}),
      }),
    );
  let definition: PipelineDefinition | undefined;
  try {
    definition = compilePipeline(parsed.data);
  } catch (err) {
    if (err instanceof SpecErrors) problems.push(...err.errors);
    else if (err instanceof SpecError) problems.push(err);
    else throw err;
  }
  if (problems.length || !definition) {
    // The field check repeats compilation's syntax errors (to report every one, not the first per
    // step): each problem is shown once.
    const seen = new Set<string>();
    const issues: PipelineIssue[] = [];
    for (const e of problems) {
      const key = `${formatPath(e.path)}\n${e.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push({ file, ...locateAt(e.path, e.offset), field: formatPath(e.path), message: e.message });
    }
    throw new PipelineFileError(issues.sort((a, b) => a.line - b.line || a.col - b.col));
  }
  return { spec: parsed.data, definition };
}

export async function loadPipelineFile(file: string, options: ParseOptions = {}): Promise<LoadedPipeline> {
  let text: string;
  try {
    const { size, isFile } = await stat(file).then((st) => ({ size: st.size, isFile: st.isFile() }));
    if (!isFile) throw new ConfigError(`pipeline file ${displayName(file)} is not a file`, { exitCode: 2 });
    if (size > MAX_PIPELINE_BYTES)
      throw new ConfigError(
        `pipeline file ${displayName(file)} is ${(size / 1024 / 1024).toFixed(1)} MB; pipeline files over ${MAX_PIPELINE_BYTES / 1024 / 1024} MB are refused unread (is it the right file?)`,
      );
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read pipeline file ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parsePipeline(text, displayName(file), options);
}

function displayName(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

function zodIssues(
  issue: z.core.$ZodIssue,
  file: string,
  locate: (path: readonly PropertyKey[], key?: string) => { line: number; col: number },
): PipelineIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({
      file,
      ...locate(issue.path, k),
      field: formatPath([...issue.path, k]),
      message: `unknown key "${k}" (check the spelling; see schemas/pipeline.schema.json)`,
    }));
  }
  let message = issue.message;
  if (issue.code === 'invalid_union' && issue.path.at(-1) !== 'kind' && 'note' in issue && issue.note)
    message = `${issue.note}`;
  if (issue.code === 'invalid_union' && /discriminator/i.test(message))
    message = 'unknown step kind; use one of waterfall, ai, http, formula, foreach';
  if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'required, but missing';
  return [{ file, ...locate(issue.path), field: formatPath(issue.path), message }];
}

/** The deepest node along `path` (the parent when the key itself is missing); with `key`, that key's node. */
export function nodeAt(root: unknown, path: readonly PropertyKey[], key?: string): Node | undefined {
  let node: unknown = root;
  let last: Node | undefined = isNode(root) ? root : undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
      );
      if (!pair) return last;
      node = pair.value ?? pair.key;
      if (!pair.value && isNode(pair.key)) return pair.key;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
    } else return last;
    if (isNode(node)) last = node;
    else return last;
  }
  if (key && isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
    if (pair && isNode(pair.key)) return pair.key;
  }
  return last;
}

/** Providers and operations named in the file must exist, and their input keys must be known. */
function checkProviders(spec: PipelineSpec): SpecError[] {
  const found: SpecError[] = [];
  const all: readonly ProviderDefinition[] = registered;
  const problem = (path: (string | number)[], message: string) => {
    found.push(new SpecError(path, message));
  };
  const check = (
    provider: string,
    operation: string,
    input: Record<string, unknown>,
    path: (string | number)[],
  ) => {
    const def = all.find((p) => p.id === provider);
    if (!def)
      return problem(
        [...path, 'provider'],
        `unknown provider "${provider}" (known: ${all.map((p) => p.id).join(', ')})`,
      );
    const op = def.operations[operation];
    if (!op)
      return problem(
        [...path, 'operation'],
        `provider "${provider}" has no operation "${operation}" (its operations: ${Object.keys(def.operations).join(', ')})`,
      );
    const shape = (op.input as { shape?: Record<string, unknown> }).shape;
    if (shape) {
      for (const k of Object.keys(input)) {
        if (!(k in shape))
          problem(
            [...path, 'input', k],
            `${provider} ${operation} has no input "${k}" (its inputs: ${Object.keys(shape).join(', ')})`,
          );
      }
    }
  };
  const visit = (steps: StepSpec[], base: (string | number)[]) => {
    steps.forEach((s, i) => {
      const path = [...base, i];
      if (s.kind === 'waterfall') {
        s.providers.forEach((p, j) => {
          check(p.provider, p.operation, p.input, [...path, 'providers', j]);
        });
        if (s.validate)
          check(s.validate.provider, s.validate.operation, s.validate.input, [...path, 'validate']);
      } else if (s.kind === 'ai') {
        for (const [name, c] of Object.entries(s.context ?? {}))
          check(c.provider, c.operation, c.input, [...path, 'context', name]);
        if (
          all.some((p) => p.id === AI_PROVIDER) &&
          !all.find((p) => p.id === AI_PROVIDER)?.operations[AI_OPERATION]
        )
          problem([...path, 'model'], `the ${AI_PROVIDER} provider has no "${AI_OPERATION}" operation`);
      } else if (s.kind === 'foreach') visit(s.steps, [...path, 'steps']);
    });
  };
  visit(spec.steps, ['steps']);
  return found;
}
