import type { CallContext, Stage } from './call-context.ts';

/**
 * Composes stages the way Hono composes middlewares: `compose([a, b, c])(ctx)` runs `a(ctx, next)`,
 * where `next()` runs `b(ctx, next)`, and so on; code after `await next()` runs on the way back out.
 * A stage may skip the rest (a cache hit) or run it again (the retries stage, once per attempt), so
 * unlike Hono's `compose`, calling `next()` more than once is allowed, but never concurrently.
 */
export function compose(stages: readonly Stage[]): (ctx: CallContext) => Promise<void> {
  return (ctx) => {
    const dispatch = (i: number): Promise<void> => {
      const stage = stages[i];
      if (!stage) return Promise.resolve();
      let running = false;
      return stage(ctx, async () => {
        if (running) throw new Error(`gateway stage ${i} called next() while the rest was still running`);
        running = true;
        try {
          await dispatch(i + 1);
        } finally {
          running = false;
        }
      });
    };
    return dispatch(0);
  };
}
