import type { PipelineDefinition, StepDefinition } from '../../src/engine/pipeline-types.ts';

const now = () => new Date().toISOString();

/** Waterfall: the first provider that finds the account's name wins (attribute `looked_up`). */
export function waterfallPipeline(providers: string[], name = 'waterfall'): PipelineDefinition {
  return {
    name,
    forecast: providers.map((p) => ({ provider: p, operation: 'lookup', callsPerRecord: 1 })),
    steps: [
      {
        id: 'lookup',
        async run(ctx) {
          for (const provider of providers) {
            const out = await ctx.gateway.call(
              { provider, operation: 'lookup', input: { q: String(ctx.record.account.name) } },
              ctx.signal,
            );
            if (out.found) {
              const value = (out.output as { value: string }).value;
              return {
                status: 'found',
                writes: [
                  {
                    entity: 'account',
                    field: 'looked_up',
                    value,
                    source: 'provider',
                    provider,
                    operation: 'lookup',
                    costUsd: out.costUsd,
                    observedAt: now(),
                  },
                ],
              };
            }
          }
          return { status: 'not_found', writes: [] };
        },
      },
    ],
  };
}

/** `steps` steps, each one call of `provider` (query `<name>#s<i>`), each writing attribute `s<i>`. */
export function chainPipeline(provider: string, steps: number, name = 'chain'): PipelineDefinition {
  return {
    name,
    forecast: [{ provider, operation: 'lookup', callsPerRecord: steps }],
    steps: Array.from(
      { length: steps },
      (_, i): StepDefinition => ({
        id: `s${i + 1}`,
        async run(ctx) {
          const out = await ctx.gateway.call(
            { provider, operation: 'lookup', input: { q: `${String(ctx.record.account.name)}#s${i + 1}` } },
            ctx.signal,
          );
          return {
            status: out.found ? 'found' : 'not_found',
            writes: out.found
              ? [
                  {
                    entity: 'account',
                    field: `s${i + 1}`,
                    value: (out.output as { value: string }).value,
                    source: 'provider',
                    provider,
                    operation: 'lookup',
                    costUsd: out.costUsd,
                    observedAt: now(),
                  },
                ]
              : [],
          };
        },
      }),
    ),
  };
}
