import { ConfigError } from '../errors.ts';
import { httpProvider } from '../pipelines/http-provider.ts';
import { apollo } from './apollo/index.ts';
import type { ProviderDefinition } from './define-provider.ts';
import { emailPattern } from './email-pattern/index.ts';
import { hunter } from './hunter/index.ts';
import { jina } from './jina/index.ts';
import { llm } from './llm/index.ts';
import { perplexity } from './perplexity/index.ts';
import { website } from './website/index.ts';

/**
 * Every provider Sluice knows, listed explicitly (no directory scanning): adding a provider means
 * adding its folder and one line here.
 */
export const providers: readonly ProviderDefinition[] = [
  hunter,
  apollo,
  perplexity,
  jina,
  website,
  emailPattern,
  llm,
  // The generic request behind the pipelines' `http` step (src/pipelines/http-provider.ts).
  httpProvider,
];

/** The provider with this id; a ConfigError listing the known ids otherwise. */
export function getProvider(id: string): ProviderDefinition {
  const found = providers.find((p) => p.id === id);
  if (!found) {
    throw new ConfigError(
      `unknown provider "${id}". Known providers: ${providers.map((p) => p.id).join(', ')} (see \`sluice providers list\`).`,
      { exitCode: 2 },
    );
  }
  return found;
}

/** The operation of a provider; a ConfigError naming the provider's operations otherwise. */
export function getOperation(providerId: string, operationId: string) {
  const provider = getProvider(providerId);
  const op = provider.operations[operationId];
  if (!op) {
    throw new ConfigError(
      `provider "${providerId}" has no operation "${operationId}". Its operations: ${Object.keys(provider.operations).join(', ')}.`,
      { exitCode: 2 },
    );
  }
  return { provider, operation: op };
}
