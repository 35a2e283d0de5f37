import type { PipelineDefinition, StepOutput } from '../../src/engine/pipeline-types.ts';

const now = () => new Date().toISOString();

/**
 * A small code-defined pipeline for run-engine tests:
 * - `industry` (required): alpha/industry by account name → account.industry
 * - `email`: waterfall beta/email then gamma/email → account attribute general_email
 * - `staff`: alpha/staff lists people; each becomes a new contact, and each contact's title comes from
 *   a memoized sub-step (foreach child) calling beta/title.
 */
export function basicPipeline(name = 'basic'): PipelineDefinition {
  return {
    name,
    forecast: [{ provider: 'alpha', operation: 'industry', callsPerRecord: 1 }],
    steps: [
      {
        id: 'industry',
        required: true,
        async run(ctx): Promise<StepOutput> {
          const out = await ctx.gateway.call({
            provider: 'alpha',
            operation: 'industry',
            input: { name: ctx.record.account.name },
          });
          if (!out.found) return { status: 'not_found', writes: [] };
          return {
            status: 'found',
            writes: [
              {
                entity: 'account',
                field: 'industry',
                value: (out.output as { industry: string }).industry,
                source: 'provider',
                provider: 'alpha',
                operation: 'industry',
                costUsd: out.costUsd,
                confidence: 0.9,
                observedAt: now(),
              },
            ],
          };
        },
      },
      {
        id: 'email',
        async run(ctx): Promise<StepOutput> {
          for (const provider of ['beta', 'gamma']) {
            const out = await ctx.gateway.call({
              provider,
              operation: 'email',
              input: { name: ctx.record.account.name },
            });
            if (out.found) {
              return {
                status: 'found',
                writes: [
                  {
                    entity: 'account',
                    field: 'general_email',
                    value: (out.output as { email: string }).email,
                    source: 'provider',
                    provider,
                    operation: 'email',
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
      {
        id: 'staff',
        async run(ctx): Promise<StepOutput> {
          const list = await ctx.gateway.call({
            provider: 'alpha',
            operation: 'staff',
            input: { name: ctx.record.account.name },
          });
          if (!list.found) return { status: 'not_found', writes: [] };
          const people = list.output as { email: string; first: string; last: string }[];
          const out: StepOutput = { status: 'found', writes: [], newContacts: [] };
          for (const p of people) {
            const ref = `new:${p.email}`;
            out.newContacts!.push({
              id: undefined,
              ref,
              email: p.email,
              first_name: p.first,
              last_name: p.last,
            });
            const child = await ctx.memo(ref, async () => {
              const t = await ctx.gateway.call({
                provider: 'beta',
                operation: 'title',
                input: { email: p.email },
              });
              return {
                status: t.found ? 'found' : 'not_found',
                writes: t.found
                  ? [
                      {
                        entity: 'contact',
                        contactRef: ref,
                        field: 'title',
                        value: (t.output as { title: string }).title,
                        source: 'provider',
                        provider: 'beta',
                        operation: 'title',
                        costUsd: t.costUsd,
                        observedAt: now(),
                      },
                    ]
                  : [],
              };
            });
            out.writes.push(...child.writes);
          }
          return out;
        },
      },
    ],
  };
}

/** Handlers answering everything for basicPipeline; override single ones per test. */
export function basicHandlers() {
  return {
    'alpha/industry': (i: { name: string }) => ({
      found: true as const,
      output: { industry: `golf:${i.name}` },
    }),
    'beta/email': (i: { name: string }) => ({
      found: true as const,
      output: { email: `info@${slug(i.name)}.com` },
    }),
    'gamma/email': () => ({ found: false as const }),
    'alpha/staff': (i: { name: string }) => ({
      found: true as const,
      output: [
        { email: `ann@${slug(i.name)}.com`, first: 'Ann', last: 'Lee' },
        { email: `bob@${slug(i.name)}.com`, first: 'Bob', last: 'Ray' },
      ],
    }),
    'beta/title': (i: { email: string }) => ({
      found: true as const,
      output: { title: i.email.startsWith('ann') ? 'GM' : 'Pro' },
    }),
  };
}

export function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '');
}
