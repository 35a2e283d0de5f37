import { ThrottledError } from '../../errors.ts';
import { takeSlot } from '../../limits/concurrency.ts';
import type { Stage } from '../call-context.ts';
import { refuse } from '../record.ts';

/**
 * The provider's concurrency cap for one attempt: an in-process semaphore, plus on server Postgres one
 * `concurrency_slots` row (given back by the statement recording the attempt). Waiting longer than
 * `maxWaitMs` for a slot → ThrottledError, so the run is rescheduled.
 */
export const concurrency: Stage = async (ctx, next) => {
  const { gw, target } = ctx;
  const sem = target.sem;
  if (!sem) return next();
  await sem.acquire();
  try {
    if (!gw.singleProcess) {
      const ttl = (target.op.timeoutMs ?? 30_000) + 30_000;
      const deadline = gw.clock.now() + gw.maxWaitMs;
      const size = target.provider.concurrency;
      for (let pause = 10; ; pause = Math.min(200, pause * 2)) {
        const slot = await takeSlot(gw.db, target.provider.id, size, gw.owner, ttl);
        if (slot !== undefined) {
          ctx.hold.slot = slot;
          break;
        }
        if (gw.clock.now() + pause > deadline) {
          await refuse(
            ctx,
            new ThrottledError(
              `${target.provider.id}: all ${size} concurrent call slots are busy; the run is rescheduled`,
              { retryAfterMs: 1_000 },
            ),
          );
        }
        await gw.clock.sleep(pause);
      }
    }
    await next();
  } finally {
    sem.release();
  }
};
