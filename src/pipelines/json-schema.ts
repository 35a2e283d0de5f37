import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { pipelineSchema } from './schema.ts';

/**
 * Generates schemas/pipeline.schema.json from the zod schema, so editors (VS Code's YAML extension,
 * via the `# yaml-language-server: $schema=` line) autocomplete and check pipeline files.
 * Regenerate after changing schema.ts: `npx tsx src/pipelines/json-schema.ts --write`
 * (test/pipelines-schema.test.ts fails while the committed file is stale).
 */
export const JSON_SCHEMA_FILE = fileURLToPath(new URL('../../schemas/pipeline.schema.json', import.meta.url));

export function pipelineJsonSchemaText(): string {
  const schema = z.toJSONSchema(pipelineSchema, { io: 'input', unrepresentable: 'any' });
  const withTitle = {
    $schema: schema.$schema,
    title: 'Sluice pipeline',
    description: 'A Sluice enrichment pipeline (docs/pipelines.md).',
    ...schema,
  };
  return `${JSON.stringify(withTitle, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = pipelineJsonSchemaText();
  if (process.argv.includes('--write')) {
    writeFileSync(JSON_SCHEMA_FILE, text);
    process.stdout.write(`wrote ${JSON_SCHEMA_FILE}\n`);
  } else {
    const current = (() => {
      try {
        return readFileSync(JSON_SCHEMA_FILE, 'utf8');
      } catch {
        return '';
      }
    })();
    // Compared as JSON: biome may reformat the committed file.
    const same = current !== '' && JSON.stringify(JSON.parse(current)) === JSON.stringify(JSON.parse(text));
    process.stdout.write(same ? 'up to date\n' : 'stale: run with --write\n');
    process.exitCode = same ? 0 : 1;
  }
}
