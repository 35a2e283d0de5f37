import type { Config } from '../config/config.ts';
import type { Db } from '../db/db.ts';
import { processLogger } from '../logger.ts';
import { resolvePipeline } from '../pipelines/resolve.ts';
import type { ProviderDefinition } from '../providers/define-provider.ts';
import { providers as registry } from '../providers/registry.ts';
import { createGateway } from './gateway.ts';
import type { PipelineDefinition } from './pipeline-types.ts';
import type { RunEngine } from './run-executor.ts';
import type { CallCounters } from './run-gateway.ts';
import { openRunQueue, type RunQueueOptions } from './run-queue.ts';

/** The registered provider with this id, or undefined. */
export function findProvider(id: string): ProviderDefinition | undefined {
  return registry.find((p) => p.id === id);
}

/** Resolves pipelines once per process (every run of a batch names the same one). */
export function cachedPipelineResolver(
  resolve: (ref: string) => Promise<PipelineDefinition> = resolvePipeline,
): (ref: string) => Promise<PipelineDefinition> {
  const cache = new Map<string, Promise<PipelineDefinition>>();
  return (ref) => {
    let p = cache.get(ref);
    if (!p) {
      p = resolve(ref);
      cache.set(ref, p);
      p.catch(() => cache.delete(ref));
    }
    return p;
  };
}

/** Everything `sluice run` and `sluice worker` need: the queue, the gateway and the pipeline resolver. */
export async function openRunEngine(
  config: Config,
  db: Db,
  options: RunQueueOptions & { counters?: CallCounters } = {},
): Promise<RunEngine> {
  const queue = await openRunQueue(db, options);
  // services.db: operations that learn from Sluice's own data (email-pattern reads known emails)
  const gateway = createGateway({
    db,
    providers: findProvider,
    env: config.env,
    services: { db },
    logger: processLogger(),
  });
  return {
    db,
    queue,
    gateway,
    resolvePipeline: cachedPipelineResolver(),
    maxThrottles: config.throttleCeiling.maxReschedules,
    maxThrottledMs: config.throttleCeiling.maxMs,
    ...(options.counters ? { counters: options.counters } : {}),
  };
}
