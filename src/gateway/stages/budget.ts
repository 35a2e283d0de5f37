import { BudgetExceededError } from '../../errors.ts';
import {
  batchScope,
  dailyScope,
  ensureDailyCap,
  forgetDailyCaps,
  reserveBudget,
} from '../../limits/budget.ts';
import type { Stage } from '../call-context.ts';
import { refuse } from '../record.ts';

/**
 * Budgets (src/limits/budget.ts): the batch's `--budget`, reserved by the preflight (tried again alone,
 * then refused here when it did not fit), then each daily cap of the call's account, reserved
 * atomically. What is reserved is settled with the real cost by the statement that records the call.
 */
export const budget: Stage = async (ctx, next) => {
  const { gw, req, hold } = ctx;
  const pf = ctx.preflight!;
  const price = ctx.priceUsd;
  if (pf.batchLimitUsd !== null && price > 0 && !pf.batchReserved && req.batchId !== undefined) {
    // The preflight admits a group's reservations in call order: one refused there may still fit
    // alone (cheaper than those before it, or theirs did not all go ahead). Tried once more alone.
    const over = await reserveBudget(gw.db, [batchScope(req.batchId)], price, hold.attemptId);
    if (over === undefined) hold.reservedUsd = price;
    else if (over !== 'missing') {
      await refuse(
        ctx,
        new BudgetExceededError(
          `${ctx.target.name} would exceed the budget of $${over.limitUsd.toFixed(2)} for batch ${req.batchId}: $${over.spentUsd.toFixed(4)} spent, $${over.reservedUsd.toFixed(4)} reserved, this call costs up to $${price.toFixed(4)}. Raise the budget to continue`,
        ),
      );
    }
  }
  for (const cap of ctx.account.dailyCaps) {
    const scope = dailyScope(cap.id, pf.nowMs);
    await ensureDailyCap(gw.db, scope, cap.usd);
    let over = await reserveBudget(gw.db, [scope], price, hold.attemptId);
    if (over === 'missing') {
      // The row was deleted under us (e.g. by hand): recreate it, a cap is never silently skipped.
      forgetDailyCaps(gw.db);
      await ensureDailyCap(gw.db, scope, cap.usd);
      over = await reserveBudget(gw.db, [scope], price, hold.attemptId);
    }
    if (over && over !== 'missing') {
      await refuse(
        ctx,
        new BudgetExceededError(
          `${ctx.target.name} would exceed the daily cap of $${over.limitUsd.toFixed(2)} for ${cap.id}: $${over.spentUsd.toFixed(4)} spent today, $${over.reservedUsd.toFixed(4)} reserved, this call costs up to $${price.toFixed(4)}. Raise ${cap.envVar} or wait until tomorrow (UTC)`,
        ),
      );
    }
    if (over !== 'missing') hold.budgetScopes.push(scope);
    if (price > 0) hold.reservedUsd = price;
  }
  return next();
};
