import { MockLanguageModelV3 } from 'ai/test';
import { afterEach, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { createGateway } from '../src/engine/gateway.ts';
import { BudgetExceededError, CriticalError } from '../src/errors.ts';
import { listLedger } from '../src/ledger/ledger-query.ts';
import { getBudget, setBatchBudget } from '../src/limits/budget.ts';
import type { ProviderDefinition } from '../src/providers/define-provider.ts';
import { costOf, DEFAULT_MAX_OUTPUT_TOKENS, estimateTokens } from '../src/providers/llm/prices.ts';
import { getOperation } from '../src/providers/registry.ts';
import { describeEachBackend, openTestDb, type TestDb } from './helpers/backends.ts';

/** What the batch holds in reserve right now. */
async function reserved(db: Db, batchId: number): Promise<number> {
  return (await getBudget(db, `batch:${batchId}`))?.reservedUsd ?? Number.NaN;
}

describeEachBackend('budgets reserve the real price', (backend) => {
  let db: TestDb | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
  });

  it('a settings override of the credit price (SLUICE_HUNTER_USD_PER_CREDIT) is what is reserved', async () => {
    db = await openTestDb(backend);
    const d = db;
    const { provider: hunter } = getOperation('hunter', 'email-finder');
    const during: number[] = [];
    const gateway = (env: Record<string, string>) =>
      createGateway({
        db: d,
        providers: (id) => (id === 'hunter' ? (hunter as ProviderDefinition) : undefined),
        env: { HUNTER_API_KEY: 'k', SLUICE_HUNTER_BASE_URL: 'http://127.0.0.1:9', ...env },
        defaultMaxAttempts: 1,
        // The request itself does not matter: note what is reserved while it is made, then fail it.
        fetch: async () => {
          during.push(await reserved(d, 1));
          throw new TypeError('fetch failed');
        },
      });
    const input = { domain: 'acme.com', first_name: 'Ada', last_name: 'Lovelace' };
    const call = { provider: 'hunter', operation: 'email-finder', input, batchId: 1 };
    await setBatchBudget(db, 1, 0.4);
    // The declared price ($0.0245) would fit in $0.40; the user's plan price ($0.50) does not.
    const err = await gateway({ SLUICE_HUNTER_USD_PER_CREDIT: '0.5' })
      .call(call)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExceededError);
    expect((err as Error).message).toMatch(/costs up to \$0\.5000/);
    expect(during).toEqual([]);
    await setBatchBudget(db, 1, 1);
    await expect(gateway({ SLUICE_HUNTER_USD_PER_CREDIT: '0.5' }).call(call)).rejects.toThrow(/fetch failed/);
    await expect(gateway({}).call(call)).rejects.toThrow(/fetch failed/);
    expect(during).toEqual([0.5, 0.0245]);
    expect(await getBudget(db, 'batch:1')).toMatchObject({ spentUsd: 0, reservedUsd: 0 });
  });

  it("an LLM call reserves max tokens at the model's price, and an answer that breaks its schema is billed", async () => {
    db = await openTestDb(backend);
    const d = db;
    const { provider: llm } = getOperation('llm', 'generate');
    const during: number[] = [];
    const usage = { inputTokens: 40, outputTokens: 120 };
    const gateway = (text: string) =>
      createGateway({
        db: d,
        providers: (id) => (id === 'llm' ? (llm as ProviderDefinition) : undefined),
        defaultMaxAttempts: 1,
        services: {
          languageModel: () =>
            new MockLanguageModelV3({
              doGenerate: async () => {
                during.push(await reserved(d, 2));
                return {
                  content: [{ type: 'text', text }],
                  finishReason: { unified: 'stop', raw: undefined },
                  usage: {
                    inputTokens: {
                      total: usage.inputTokens,
                      noCache: undefined,
                      cacheRead: undefined,
                      cacheWrite: undefined,
                    },
                    outputTokens: { total: usage.outputTokens, text: undefined, reasoning: undefined },
                  },
                  warnings: [],
                };
              },
            }),
        },
      });
    const input = { model: 'openai:gpt-4o', prompt: 'Summarize Acme in one line.', max_tokens: 1_000 };
    // gpt-4o: $2.50 / $10 per million tokens. 1 000 output tokens alone are $0.01.
    const max = costOf('openai:gpt-4o', { inputTokens: estimateTokens(input), outputTokens: 1_000 });
    expect(max).toBeGreaterThan(0.01);
    await setBatchBudget(db, 2, 0.01);
    await expect(
      gateway('Acme makes anvils.').call({ provider: 'llm', operation: 'generate', input, batchId: 2 }),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    await setBatchBudget(db, 2, 1);
    const ok = await gateway('Acme makes anvils.').call({
      provider: 'llm',
      operation: 'generate',
      input,
      batchId: 2,
    });
    const real = costOf('openai:gpt-4o', usage);
    expect(ok).toMatchObject({ found: true, costUsd: real });
    expect(during).toHaveLength(1);
    expect(during[0]).toBeCloseTo(max, 5);
    // With a schema the answer must be JSON: prose is a failed call, but its tokens were billed.
    const schema = { type: 'object', properties: { summary: { type: 'string' } }, required: ['summary'] };
    const bad = await gateway('Acme makes anvils.')
      .call({ provider: 'llm', operation: 'generate', input: { ...input, schema }, batchId: 2 })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(CriticalError);
    const rows = await listLedger(db, { batchId: 2 });
    expect(rows.map((r) => [r.status, r.costUsd])).toEqual([
      ['error', real],
      ['found', real],
      ['refused', 0],
    ]);
    const budget = await getBudget(db, 'batch:2');
    expect(budget?.spentUsd).toBeCloseTo(2 * real, 6);
    expect(budget?.reservedUsd).toBe(0);
    // Without max_tokens the call is still bounded (and reserved) at the default output limit.
    const { max_tokens: _, ...unbounded } = input;
    await gateway('Acme makes anvils.').call({
      provider: 'llm',
      operation: 'generate',
      input: unbounded,
      batchId: 2,
    });
    expect(during.at(-1)).toBeCloseTo(
      costOf('openai:gpt-4o', {
        inputTokens: estimateTokens(input),
        outputTokens: DEFAULT_MAX_OUTPUT_TOKENS,
      }),
      5,
    );
  });
});
