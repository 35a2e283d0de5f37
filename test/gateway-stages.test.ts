import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Db } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { BudgetExceededError, CriticalError, RetryableError } from '../src/errors.ts';
import type { CallContext, Stage } from '../src/gateway/call-context.ts';
import { compose } from '../src/gateway/compose.ts';
import { http } from '../src/gateway/stages/http.ts';
import { localCoalescing } from '../src/gateway/stages/local-coalescing.ts';
import { releaseOnFailure } from '../src/gateway/stages/release-on-failure.ts';
import { RetryAttempt, retries } from '../src/gateway/stages/retries.ts';
import { getBudget, setBatchBudget } from '../src/limits/budget.ts';
import { defineOperation, defineProvider } from '../src/providers/define-provider.ts';
import { stageContext } from './helpers/gateway-context.ts';

/** A provider whose one operation answers from `answer` (no HTTP). */
function scripted(answer: (input: { q: string }) => { found: true; output: unknown; costUsd: number }) {
  return defineProvider({
    id: 'scripted',
    name: 'Scripted',
    baseUrl: 'http://127.0.0.1:9',
    limits: [],
    concurrency: Number.POSITIVE_INFINITY,
    operations: {
      lookup: defineOperation({
        description: 'scripted',
        input: z.object({ q: z.string() }),
        output: z.object({ value: z.string() }),
        priceUsd: 0.05,
        run: async (_ctx, input) =>
          answer(input) as { found: true; output: { value: string }; costUsd: number },
      }),
    },
  });
}
const provider = scripted((i) => ({ found: true, output: { value: i.q }, costUsd: 0.05 }));

let db: Db;
beforeAll(async () => {
  db = await openDb({ memory: true });
});
afterAll(async () => {
  await db.close();
});

describe('compose', () => {
  it('runs stages in order, unwinds in reverse, and lets a stage stop the rest or run it again', async () => {
    const trace: string[] = [];
    const mark =
      (name: string): Stage =>
      async (_ctx, next) => {
        trace.push(`${name}>`);
        await next();
        trace.push(`<${name}`);
      };
    const twice: Stage = async (_ctx, next) => {
      await next();
      await next();
    };
    const stop: Stage = async () => {
      trace.push('stop');
    };
    const ctx = stageContext(db, provider);
    await compose([mark('a'), twice, mark('b'), stop, mark('never')])(ctx);
    expect(trace).toEqual(['a>', 'b>', 'stop', '<b', 'b>', 'stop', '<b', '<a']);
  });
});

describe('stages', () => {
  it('retries: runs the attempt stages again after RetryAttempt, numbering attempts; other errors end the call', async () => {
    const ctx = stageContext(db, provider);
    const seen: number[] = [];
    await compose([
      retries,
      async (c) => {
        seen.push(c.attempt);
        if (c.attempt < 3) throw new RetryAttempt(1);
      },
    ])(ctx);
    expect(seen).toEqual([1, 2, 3]);
    expect(ctx.maxAttempts).toBe(4);
    const failing = stageContext(db, provider);
    await expect(
      compose([
        retries,
        async () => {
          throw new RetryableError('down');
        },
      ])(failing),
    ).rejects.toThrow('down');
    expect(failing.attempt).toBe(1);
  });

  it('local coalescing: followers get the leader answer, but not an error that was the leader own', async () => {
    const base = stageContext(db, provider);
    const inflight = base.gw.inflight;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const calls: string[] = [];
    const leaderStage: Stage = async (c) => {
      calls.push(String(c.req.batchId));
      await gate;
      if (c.req.batchId === 1) throw new BudgetExceededError('batch 1 is out of money');
      c.answer = { found: true, output: { value: 'v' }, costUsd: 0.05, confidence: undefined, cached: false };
    };
    const run = compose([localCoalescing, leaderStage]);
    const same = (batchId: number): CallContext => ({
      ...stageContext(db, provider, { key: base.key }, { inflight, owner: base.gw.owner }),
      req: { ...base.req, batchId },
    });
    const leader = run(same(1));
    const followerCtx = same(2);
    const follower = run(followerCtx);
    release();
    await expect(leader).rejects.toBeInstanceOf(BudgetExceededError);
    await follower;
    // The follower (another batch) made the call itself and got an answer, not batch 1's budget error.
    expect(calls).toEqual(['1', '2']);
    expect(followerCtx.answer).toMatchObject({ found: true, output: { value: 'v' } });
    expect(inflight.size).toBe(0);
  });

  it('release on failure: a call that fails before settling gives back its budget reservation', async () => {
    await setBatchBudget(db, 41, 1);
    await db.query("UPDATE budgets SET reserved_usd = 0.05 WHERE scope = 'batch:41'");
    const ctx = stageContext(db, provider);
    ctx.hold.budgetScopes.push('batch:41');
    ctx.hold.reservedUsd = 0.05;
    await expect(
      compose([
        releaseOnFailure,
        async () => {
          throw new Error('connection terminated');
        },
      ])(ctx),
    ).rejects.toThrow('connection terminated');
    expect(ctx.hold.settled).toBe(true);
    expect(await getBudget(db, 'batch:41')).toMatchObject({ reservedUsd: 0, spentUsd: 0 });
  });

  it('http: an answer that breaks the output schema is a CriticalError that keeps its billed cost', async () => {
    const bad = scripted(() => ({ found: true, output: { value: 42 }, costUsd: 0.07 }));
    const ctx = stageContext(db, bad);
    const err = await compose([http])(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CriticalError);
    expect((err as Error).message).toMatch(/does not match its schema \(field "value"/);
    expect(ctx.billedUsd).toBe(0.07);
    expect(ctx.requested).toBe(true);
    const good = stageContext(db, provider);
    await compose([http])(good);
    expect(good.result).toMatchObject({ found: true, output: { value: 'x' }, costUsd: 0.05 });
  });
});
