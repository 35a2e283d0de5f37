import type { Db } from '../db/db.ts';
import { createPgBossDriver } from '../queue/pg-boss-driver.ts';
import type { QueueDriver } from '../queue/queue-driver.ts';
import { RUNS_DLQ, RUNS_QUEUE } from './run-executor.ts';

export interface RunQueueOptions {
  /**
   * A run whose worker stopped sending heartbeats (killed, frozen) is handed out again after this
   * many seconds (plus up to `superviseIntervalSeconds`). pg-boss's minimum is 10. Default 20.
   */
  heartbeatSeconds?: number;
  /** How often expired claims are looked for, in seconds. Default 5. */
  superviseIntervalSeconds?: number;
  /** First delay before a run that failed with a retryable error is retried, in seconds. Default 2. */
  retryDelaySeconds?: number;
}

/** The runs queue and its dead-letter queue on Sluice's database. */
export function openRunQueue(db: Db, options: RunQueueOptions = {}): Promise<QueueDriver> {
  return createPgBossDriver({
    db,
    superviseIntervalSeconds: options.superviseIntervalSeconds ?? 5,
    queues: [
      {
        name: RUNS_QUEUE,
        deadLetter: RUNS_DLQ,
        heartbeatSeconds: options.heartbeatSeconds ?? 20,
        retryDelaySeconds: options.retryDelaySeconds ?? 2,
      },
    ],
  });
}
