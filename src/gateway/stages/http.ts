import { CriticalError, NotFoundError, SluiceError } from '../../errors.ts';
import type { OperationResult } from '../../providers/define-provider.ts';
import { createOperationContext } from '../../providers/http.ts';
import type { CallContext, CheckedResult, Stage } from '../call-context.ts';

/**
 * One request: the operation's `run` with an OperationContext bound to the provider (base URL, auth,
 * timeout, error mapping in src/providers/http.ts), then its result checked against the output schema.
 * A 404 (NotFoundError) is a real "nothing found". Sets `ctx.result`, or throws for the ledger stage;
 * an error that comes after a billed response sets `ctx.billedUsd` (recorded as that attempt's cost).
 */
export const http: Stage = async (ctx) => {
  const { gw, target } = ctx;
  ctx.httpStatus = null;
  ctx.billedUsd = 0;
  ctx.result = undefined;
  ctx.requested = true;
  const t0 = gw.clock.now();
  const doFetch = gw.options.fetch ?? fetch;
  const opContext = createOperationContext(target.provider, {
    env: gw.env,
    baseUrl: gw.options.baseUrl?.(target.provider.id),
    signal: ctx.signal,
    timeoutMs: target.op.timeoutMs,
    services: gw.options.services,
    fetch: async (url, init) => {
      const response = await doFetch(url, init);
      ctx.httpStatus = response.status;
      return response;
    },
  });
  let res: OperationResult<unknown>;
  try {
    res = await target.op.run(opContext, ctx.input);
  } catch (err) {
    if (!(err instanceof NotFoundError)) {
      // An error about a response the provider billed (an LLM answer that broke its schema).
      const billed = err instanceof SluiceError ? err.billedUsd : undefined;
      if (billed !== undefined && Number.isFinite(billed) && billed > 0) ctx.billedUsd = billed;
      throw err;
    }
    res = { found: false, costUsd: 0 };
  } finally {
    ctx.latencyMs = gw.clock.now() - t0;
  }
  ctx.result = checkResult(ctx, res);
};

/** Validates the operation's result; a bad one is a CriticalError for this call, billed all the same. */
function checkResult(ctx: CallContext, res: OperationResult<unknown>): CheckedResult {
  const cost = Number.isFinite(res.costUsd) && res.costUsd >= 0 ? res.costUsd : 0;
  if (!res.found) return { found: false, output: null, costUsd: cost, confidence: undefined };
  const parsed = ctx.target.op.output.safeParse(res.output);
  if (!parsed.success) {
    ctx.billedUsd = cost;
    const issue = parsed.error.issues[0];
    throw new CriticalError(
      `${ctx.target.name} returned an output that does not match its schema (field "${issue?.path.join('.') || 'output'}": ${issue?.message}); the call is not cached`,
      { cause: parsed.error },
    );
  }
  return { found: true, output: parsed.data, costUsd: cost, confidence: res.confidence };
}
