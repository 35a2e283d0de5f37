import { z } from 'zod';
import {
  defineOperation,
  defineProvider,
  type ProviderDefinition,
  type RateLimitSpec,
} from '../../src/providers/define-provider.ts';

/**
 * Provider definitions for the fake limited APIs (fake-limited-server.ts): id `<api>`, one operation
 * `lookup` ({q} → {value}) priced at `priceUsd`, limited to `ratePerSecond` globally.
 */
export function fakeProvider(
  id: string,
  options: { ratePerSecond?: number; limits?: RateLimitSpec[]; priceUsd?: number; concurrency?: number },
): ProviderDefinition {
  return defineProvider({
    id,
    name: `Fake ${id}`,
    baseUrl: 'http://127.0.0.1:1',
    limits:
      options.limits ??
      (options.ratePerSecond
        ? [{ limit: options.ratePerSecond, windowMs: 1000, label: `${options.ratePerSecond}/s` }]
        : []),
    concurrency: options.concurrency ?? 0,
    operations: {
      lookup: defineOperation({
        description: 'look a query up',
        input: z.object({ q: z.string() }),
        output: z.object({ value: z.string() }),
        priceUsd: options.priceUsd ?? 0.01,
        async run(ctx, input) {
          const res = await ctx.request({ method: 'GET', path: `/${id}/lookup`, query: { q: input.q } });
          const body = z.object({ value: z.string() }).parse(res.body);
          return { found: true, output: body, costUsd: options.priceUsd ?? 0.01 };
        },
      }),
    },
  });
}
