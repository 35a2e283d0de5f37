import { readdir, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../errors.ts';
import {
  formatIssue,
  formatPath,
  MAX_ALIAS_COUNT,
  MAX_PIPELINE_BYTES,
  nodeAt,
  type PipelineIssue,
} from '../pipelines/load.ts';
import { SpecError, SpecErrors } from '../pipelines/spec-error.ts';
import { compileSync, type SyncDefinition } from './compile-sync.ts';
import { syncSchema } from './sync-schema.ts';

/**
 * Loads sync definitions: YAML → zod → compile, every problem reported as `file:line:col: field:
 * message` (the pipelines' format). Built-in definitions live in `syncs/` at the package root and are
 * named without `.yaml` (`golf-courses-clickup`); anything else is a path.
 */
export const SYNCS_DIR = fileURLToPath(new URL('../../syncs/', import.meta.url));

export class SyncFileError extends ConfigError {
  constructor(readonly issues: PipelineIssue[]) {
    super(
      `sync definition ${issues.length === 1 ? 'is invalid' : `has ${issues.length} problems`}:\n  ${issues.slice(0, 10).map(formatIssue).join('\n  ')}\nFix the file, then check it with \`sluice sync validate <file>\`.`,
    );
  }
}

export function parseSync(text: string, file: string): SyncDefinition {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length)
    throw new SyncFileError(
      doc.errors.map((e) => ({ file, ...pos(e.pos[0]), field: '', message: e.message.split('\n')[0]! })),
    );
  const locate = (path: readonly PropertyKey[], key?: string) =>
    pos(nodeAt(doc.contents, path, key)?.range?.[0] ?? 0);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml: "Excessive alias count indicates a resource exhaustion attack" (a "billion laughs" file)
    throw new SyncFileError([
      {
        file,
        ...pos(0),
        field: '',
        message: `refused: ${(err as Error).message} (more than ${MAX_ALIAS_COUNT} alias expansions); write the values out instead of nesting aliases`,
      },
    ]);
  }
  const parsed = syncSchema.safeParse(data);
  if (!parsed.success) {
    throw new SyncFileError(
      parsed.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((k) => ({
              file,
              ...locate(issue.path, k),
              field: formatPath([...issue.path, k]),
              message: `unknown key "${k}"`,
            }))
          : [
              {
                file,
                ...locate(issue.path),
                field: formatPath(issue.path),
                message:
                  issue.code === 'invalid_type' && /received undefined/.test(issue.message)
                    ? 'required, but missing'
                    : issue.message,
              },
            ],
      ),
    );
  }
  try {
    return compileSync(parsed.data);
  } catch (err) {
    const errors = err instanceof SpecErrors ? err.errors : err instanceof SpecError ? [err] : undefined;
    if (!errors) throw err;
    throw new SyncFileError(
      errors.map((e) => ({ file, ...locate(e.path), field: formatPath(e.path), message: e.message })),
    );
  }
}

/** Built-in sync names, sorted. */
export async function builtinSyncs(): Promise<string[]> {
  const files = await readdir(SYNCS_DIR).catch(() => [] as string[]);
  return files
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** A built-in name or a file path → the compiled definition. */
export async function loadSync(nameOrFile: string): Promise<SyncDefinition> {
  const builtin = /^[a-z0-9-]+$/.test(nameOrFile);
  const file = builtin ? `${SYNCS_DIR}${nameOrFile}.yaml` : nameOrFile;
  let text: string;
  try {
    // A sync definition is a page of YAML: a huge file is refused unread, as pipeline files are.
    const { size } = await stat(file);
    if (size > MAX_PIPELINE_BYTES)
      throw new ConfigError(
        `sync definition ${file} is ${(size / 1024 / 1024).toFixed(1)} MB; definitions over ${MAX_PIPELINE_BYTES / 1024 / 1024} MB are refused unread (is it the right file?)`,
      );
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const known = await builtinSyncs();
    throw new ConfigError(
      builtin
        ? `no built-in sync "${nameOrFile}" (built-in: ${known.join(', ') || 'none'}); give a file path for your own`
        : `cannot read sync definition ${file}: ${(err as Error).message}`,
      { cause: err, exitCode: 2 },
    );
  }
  return parseSync(text, builtin ? `syncs/${nameOrFile}.yaml` : file);
}
