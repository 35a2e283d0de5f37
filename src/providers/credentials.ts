import { ConfigError } from '../errors.ts';
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
  // Both checks run, so one message names every missing variable.
  const problems: string[] = [];
  for (const check of [
    () => checkCredentials(defs, env),
    () => checkModelCredentials(calls.models ?? [], env),
  ]) {
    try {
      check();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
}
