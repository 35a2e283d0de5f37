import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../errors.ts';
import { formatIssue, formatPath, nodeAt, type PipelineIssue } from '../pipelines/load.ts';
import { SpecError, SpecErrors } from '../pipelines/spec-error.ts';
import { compileSequence, type SequenceDefinition } from './compile-sequence.ts';
import { sequenceSchema } from './sequence-schema.ts';

/**
 * Loads sequences: YAML → zod → compile, problems as `file:line:col: field: message`. Built-in
 * sequences live in `sequences/` at the package root and are named without `.yaml`; anything else is a
 * path.
 */
export const SEQUENCES_DIR = fileURLToPath(new URL('../../sequences/', import.meta.url));

export class SequenceFileError extends ConfigError {
  constructor(readonly issues: PipelineIssue[]) {
    super(
      `sequence ${issues.length === 1 ? 'is invalid' : `has ${issues.length} problems`}:\n  ${issues.slice(0, 10).map(formatIssue).join('\n  ')}\nFix the file, then check it with \`sluice outreach preview <file>\`.`,
      { exitCode: 2 },
    );
  }
}

export function parseSequence(text: string, file: string): SequenceDefinition {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length)
    throw new SequenceFileError(
      doc.errors.map((e) => ({ file, ...pos(e.pos[0]), field: '', message: e.message.split('\n')[0]! })),
    );
  const locate = (path: readonly PropertyKey[], key?: string) =>
    pos(nodeAt(doc.contents, path, key)?.range?.[0] ?? 0);
  const parsed = sequenceSchema.safeParse(doc.toJS());
  if (!parsed.success)
    throw new SequenceFileError(
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
    return compileSequence(parsed.data);
  } catch (err) {
    const errors = err instanceof SpecErrors ? err.errors : err instanceof SpecError ? [err] : undefined;
    if (!errors) throw err;
    throw new SequenceFileError(
      errors.map((e) => ({ file, ...locate(e.path), field: formatPath(e.path), message: e.message })),
    );
  }
}

export async function builtinSequences(): Promise<string[]> {
  const files = await readdir(SEQUENCES_DIR).catch(() => [] as string[]);
  return files
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** A built-in name or a file path → the compiled sequence. */
export async function loadSequence(nameOrFile: string): Promise<SequenceDefinition> {
  const builtin = /^[a-z0-9-]+$/.test(nameOrFile);
  const file = builtin ? `${SEQUENCES_DIR}${nameOrFile}.yaml` : nameOrFile;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const known = await builtinSequences();
    throw new ConfigError(
      builtin
        ? `no built-in sequence "${nameOrFile}" (built-in: ${known.join(', ') || 'none'}); give a file path for your own`
        : `cannot read sequence ${file}: ${(err as Error).message}`,
      { cause: err, exitCode: 2 },
    );
  }
  return parseSequence(text, builtin ? `sequences/${nameOrFile}.yaml` : file);
}
