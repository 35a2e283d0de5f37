import type { ProviderDefinition } from './define-provider.ts';
import { checkCredentials } from './http.ts';
import { checkModelCredentials } from './llm/index.ts';
import { getProvider } from './registry.ts';

/**
 * One pre-run check for everything a pipeline will call: `calls` lists provider ids (e.g. from
 * PipelineDefinition.forecast) and the `vendor:model` ids of its `ai` steps. Throws one ConfigError
 * naming every missing key variable. Skip it in sandbox mode (the sandbox supplies keys and models).
 */
export function checkCredentialsFor(
  calls: { providers: readonly string[]; models?: readonly string[] },
  env: Readonly<Record<string, string | undefined>>,
): void {
  const defs: ProviderDefinition[] = [...new Set(calls.providers)].map((id) => getProvider(id));
  checkCredentials(defs, env);
  if (calls.models && calls.models.length > 0) checkModelCredentials(calls.models, env);
}
