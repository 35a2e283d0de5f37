import type { Config } from '../config/config.ts';
import type { Db } from '../db/db.ts';
import { SANDBOX_MODEL_RPM, sandboxProviders } from '../demo/sandbox-providers.ts';
import { cachedPipelineResolver, openRunEngine } from '../engine/engine-services.ts';
import { createGateway } from '../engine/gateway.ts';
import type { RunEngine } from '../engine/run-executor.ts';
import { openRunQueue } from '../engine/run-queue.ts';
import { type Sandbox, startSandbox } from '../sandbox/start-sandbox.ts';

export interface ServeEngineOptions {
  /** Answer every provider from the in-process sandbox (fake servers + sandbox LLM), like `sluice demo`. */
  sandbox?: boolean;
  /** Multiplies the sandbox fakes' latencies (0 = instant). Default 1. */
  sandboxLatencyScale?: number;
  heartbeatSeconds?: number;
}

/**
 * The run engine `sluice serve` works with: the real providers (keys from the environment), or with
 * `sandbox` the demo's set-up — the sandbox's fake servers (language models included), nothing leaves the machine.
 * `env` is what the rest of the server uses (outreach, CRM syncs, hook processors, schedules): the
 * configuration's, with the sandbox's keys and base URLs over it (CRM and email fakes included).
 */
export async function openServeEngine(
  config: Config,
  db: Db,
  o: ServeEngineOptions = {},
): Promise<{ engine: RunEngine; sandbox?: Sandbox; env: Config['env'] }> {
  const heartbeatSeconds = o.heartbeatSeconds ?? 20;
  if (!o.sandbox)
    return {
      engine: await openRunEngine(config, db, { heartbeatSeconds, superviseIntervalSeconds: 2 }),
      env: config.env,
    };
  const rpm = { perMinute: SANDBOX_MODEL_RPM };
  const sandbox = await startSandbox({
    seed: 1,
    ...(o.sandboxLatencyScale !== undefined ? { fakes: { latencyScale: o.sandboxLatencyScale } } : {}),
    perProvider: { perplexity: rpm, anthropic: rpm, openai: rpm },
  });
  const queue = await openRunQueue(db, { heartbeatSeconds, superviseIntervalSeconds: 2 });
  const env = { ...config.env, ...sandbox.env };
  const gateway = createGateway({
    db,
    providers: sandboxProviders(),
    env,
    // AI steps reach the sandbox's model fakes over HTTP through sandbox.env, as in the demo.
    services: { db },
  });
  return { engine: { db, queue, gateway, resolvePipeline: cachedPipelineResolver() }, sandbox, env };
}
