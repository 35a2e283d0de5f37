import { readdir, readFile, stat } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { formatPath, MAX_ALIAS_COUNT, MAX_PIPELINE_BYTES, nodeAt, type PipelineIssue } from './load.ts';
import { SpecError, SpecErrors } from './spec-error.ts';

/**
 * The YAML definition files that are not pipelines (sync definitions, sequences) share the pipelines'
 * file rules: YAML → zod → compile, every problem as `file:line:col: field: message`, alias bombs and
 * files over 1 MB refused by name. A kind names its schema, its compiler and its error.
 */
export interface DefinitionKind<Spec, Definition> {
  /** How messages name one file: "sync definition", "sequence". */
  noun: string;
  schema: z.ZodType<Spec>;
  compile(spec: Spec): Definition;
  error(issues: PipelineIssue[]): Error;
}

export function parseDefinition<Spec, Definition>(
  kind: DefinitionKind<Spec, Definition>,
  text: string,
  file: string,
): Definition {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length)
    throw kind.error(
      doc.errors.map((e) => ({ file, ...pos(e.pos[0]), field: '', message: e.message.split('\n')[0]! })),
    );
  const locate = (path: readonly PropertyKey[], key?: string) =>
    pos(nodeAt(doc.contents, path, key)?.range?.[0] ?? 0);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml: "Excessive alias count indicates a resource exhaustion attack" (a "billion laughs" file)
    throw kind.error([
      {
        file,
        ...pos(0),
        field: '',
        message: `refused: ${(err as Error).message} (more than ${MAX_ALIAS_COUNT} alias expansions); write the values out instead of nesting aliases`,
      },
    ]);
  }
  const parsed = kind.schema.safeParse(data);
  if (!parsed.success)
    throw kind.error(
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
  try {
    return kind.compile(parsed.data);
  } catch (err) {
    const errors = err instanceof SpecErrors ? err.errors : err instanceof SpecError ? [err] : undefined;
    if (!errors) throw err;
    throw kind.error(
      errors.map((e) => ({ file, ...locate(e.path), field: formatPath(e.path), message: e.message })),
    );
  }
}

/** The built-in definitions of a folder (`syncs/`, `sequences/`): names without `.yaml`, sorted. */
export async function builtinDefinitions(dir: string): Promise<string[]> {
  const files = await readdir(dir).catch(() => [] as string[]);
  return files
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/**
 * A built-in name (`golf-courses-clickup`, looked up in `dir`, shown as `label/<name>.yaml`) or a file
 * path → its text and the name messages use. `noun` names a file ("sync definition") and a built-in
 * ("sync") in messages. Files over 1 MB are refused unread, as pipeline files are.
 */
export async function readDefinition(
  noun: { file: string; builtin: string },
  dir: string,
  label: string,
  nameOrFile: string,
): Promise<{ text: string; file: string }> {
  const builtin = /^[a-z0-9-]+$/.test(nameOrFile);
  const file = builtin ? `${dir}${nameOrFile}.yaml` : nameOrFile;
  try {
    const { size } = await stat(file);
    if (size > MAX_PIPELINE_BYTES)
      throw new ConfigError(
        `${noun.file} ${file} is ${(size / 1024 / 1024).toFixed(1)} MB; definitions over ${MAX_PIPELINE_BYTES / 1024 / 1024} MB are refused unread (is it the right file?)`,
      );
    return { text: await readFile(file, 'utf8'), file: builtin ? `${label}/${nameOrFile}.yaml` : file };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const known = await builtinDefinitions(dir);
    throw new ConfigError(
      builtin
        ? `no built-in ${noun.builtin} "${nameOrFile}" (built-in: ${known.join(', ') || 'none'}); give a file path for your own`
        : `cannot read ${noun.file} ${file}: ${(err as Error).message}`,
      { cause: err, exitCode: 2 },
    );
  }
}
