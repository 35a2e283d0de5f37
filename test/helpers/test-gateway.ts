import type { CallOutcome, CallRequest, Gateway } from '../../src/engine/gateway-types.ts';

/** What a scripted operation answers: a result, or a thrown Sluice error. */
export type ScriptedAnswer = { found: true; output: unknown; costUsd?: number } | { found: false };
export type ScriptedHandler = (
  // biome-ignore lint/suspicious/noExplicitAny: each test's handler knows its own input shape
  input: any,
  request: CallRequest,
  n: number,
) => ScriptedAnswer | Promise<ScriptedAnswer>;

/**
 * A tiny in-process Gateway for run-engine tests: each `provider/operation` is a function; every call
 * is recorded. No cache, limits or retries (the real gateway has them; these tests are about runs).
 */
export function scriptedGateway(handlers: Record<string, ScriptedHandler>) {
  const calls: CallRequest[] = [];
  const gateway: Gateway & { calls: CallRequest[]; count(op: string): number } = {
    calls,
    count: (op) => calls.filter((c) => `${c.provider}/${c.operation}` === op).length,
    async call(request): Promise<CallOutcome> {
      const key = `${request.provider}/${request.operation}`;
      const handler = handlers[key];
      if (!handler) throw new Error(`test gateway: no handler for ${key}`);
      calls.push(request);
      const answer = await handler(request.input, request, gateway.count(key));
      return {
        provider: request.provider,
        operation: request.operation,
        found: answer.found,
        output: answer.found ? answer.output : null,
        costUsd: answer.found ? (answer.costUsd ?? 0.01) : 0,
        savedUsd: 0,
        confidence: undefined,
        cached: false,
        coalesced: false,
        latencyMs: 0,
      };
    },
  };
  return gateway;
}
