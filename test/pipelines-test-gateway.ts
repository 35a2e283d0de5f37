import type { CallOutcome, CallRequest, Gateway } from '../src/engine/gateway-types.ts';
import type { ContactView, RecordView, StepContext, StepOutput } from '../src/engine/pipeline-types.ts';

/**
 * A scripted gateway for step-semantics tests: each `provider/operation` answers from a handler,
 * and every call is recorded in order. (Provider adapters and the real gateway have their own suites.)
 */
export type Answer =
  | { found: true; output: unknown; costUsd?: number; confidence?: number }
  | { found: false; costUsd?: number };

export class TestGateway implements Gateway {
  readonly calls: CallRequest[] = [];
  constructor(
    private readonly handlers: Record<string, (input: Record<string, unknown>) => Answer | Promise<Answer>>,
  ) {}

  async call(request: CallRequest): Promise<CallOutcome> {
    this.calls.push(request);
    const key = `${request.provider}/${request.operation}`;
    const handler = this.handlers[key];
    if (!handler) throw new Error(`test gateway: no handler for ${key}`);
    const a = await handler(request.input as Record<string, unknown>);
    return {
      provider: request.provider,
      operation: request.operation,
      found: a.found,
      output: a.found ? a.output : null,
      costUsd: a.costUsd ?? 0,
      savedUsd: 0,
      confidence: a.found ? a.confidence : undefined,
      cached: false,
      coalesced: false,
      latencyMs: 1,
    };
  }

  /** `provider/operation` of each call, in order. */
  get sequence(): string[] {
    return this.calls.map((c) => `${c.provider}/${c.operation}`);
  }
}

export function contact(id: number, fields: Record<string, unknown>): ContactView {
  return { id, ref: `id:${id}`, ...fields };
}

export function stepContext(
  gateway: Gateway,
  record: RecordView,
  memo: Map<string, StepOutput> = new Map(),
): StepContext {
  return {
    run: { id: 1, batchId: undefined, pipeline: 'test' },
    record,
    gateway,
    async memo(key, fn) {
      const hit = memo.get(key);
      if (hit) return hit;
      const out = await fn();
      memo.set(key, out);
      return out;
    },
    signal: new AbortController().signal,
  };
}
