import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import {
  builtinDefinitions,
  type DefinitionKind,
  parseDefinition,
  readDefinition,
} from '../pipelines/definition-file.ts';
import { formatIssue, type PipelineIssue } from '../pipelines/load.ts';
import { compileSequence, type SequenceDefinition } from './compile-sequence.ts';
import { type SequenceSpec, sequenceSchema } from './sequence-schema.ts';

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

const SEQUENCE_KIND: DefinitionKind<SequenceSpec, SequenceDefinition> = {
  noun: 'sequence',
  schema: sequenceSchema,
  compile: compileSequence,
  error: (issues) => new SequenceFileError(issues),
};

export function parseSequence(text: string, file: string): SequenceDefinition {
  return parseDefinition(SEQUENCE_KIND, text, file);
}

export function builtinSequences(): Promise<string[]> {
  return builtinDefinitions(SEQUENCES_DIR);
}

/** A built-in name or a file path → the compiled sequence. */
export async function loadSequence(nameOrFile: string): Promise<SequenceDefinition> {
  const { text, file } = await readDefinition(
    { file: 'sequence', builtin: 'sequence' },
    SEQUENCES_DIR,
    'sequences',
    nameOrFile,
  );
  return parseSequence(text, file);
}
