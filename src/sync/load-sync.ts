import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import {
  builtinDefinitions,
  type DefinitionKind,
  parseDefinition,
  readDefinition,
} from '../pipelines/definition-file.ts';
import { formatIssue, type PipelineIssue } from '../pipelines/load.ts';
import { compileSync, type SyncDefinition } from './compile-sync.ts';
import { type SyncSpec, syncSchema } from './sync-schema.ts';

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

const SYNC_KIND: DefinitionKind<SyncSpec, SyncDefinition> = {
  noun: 'sync definition',
  schema: syncSchema,
  compile: compileSync,
  error: (issues) => new SyncFileError(issues),
};

export function parseSync(text: string, file: string): SyncDefinition {
  return parseDefinition(SYNC_KIND, text, file);
}

/** Built-in sync names, sorted. */
export function builtinSyncs(): Promise<string[]> {
  return builtinDefinitions(SYNCS_DIR);
}

/** A built-in name or a file path → the compiled definition. */
export async function loadSync(nameOrFile: string): Promise<SyncDefinition> {
  const { text, file } = await readDefinition(
    { file: 'sync definition', builtin: 'sync' },
    SYNCS_DIR,
    'syncs',
    nameOrFile,
  );
  return parseSync(text, file);
}
