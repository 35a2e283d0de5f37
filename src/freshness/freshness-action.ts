import { ConfigError } from '../errors.ts';
import type { ScheduleServices } from '../schedules/schedule-actions.ts';
import { runFreshness } from './run-freshness.ts';

/** The `freshness` schedule: one pass with the process's run engine. */
export async function runFreshnessAction(
  services: ScheduleServices,
  args: {
    days: number;
    limit?: number | undefined;
    pipeline?: string | undefined;
    sync?: string | undefined;
  },
): Promise<Record<string, unknown>> {
  if (!services.engine)
    throw new ConfigError(
      'freshness needs the run engine (run it from `sluice serve`, `sluice worker` or run-now)',
    );
  const report = await runFreshness({
    db: services.db,
    engine: services.engine,
    env: services.env,
    days: args.days,
    ...(args.limit !== undefined ? { limit: args.limit } : {}),
    ...(args.pipeline ? { pipeline: args.pipeline } : {}),
    ...(args.sync ? { syncs: [args.sync] } : {}),
    ...(services.log ? { onStatus: services.log } : {}),
  });
  return { ...report };
}
