/**
 * The queue port: what the run engine needs from a durable job queue, nothing more. The one
 * implementation is pg-boss (pg-boss-driver.ts) on PGlite or server Postgres; the engine never
 * imports pg-boss directly.
 *
 * Delivery is at-least-once: a job whose worker dies (no heartbeat) is handed out again, so
 * handlers must be idempotent (runs are, through step memoization and the job_id fence).
 */
export interface QueueJob<T> {
  id: string;
  data: T;
  /** How many times this job was handed out before (0 on the first claim). */
  retryCount: number;
}

/** Options for a queue, applied when the driver starts. */
export interface QueueSpec {
  name: string;
  /**
   * A claimed job whose worker sent no heartbeat for this long is handed out again. pg-boss requires
   * at least 10. Default 20 (so a SIGKILLed worker's runs resume within ~25 s).
   */
  heartbeatSeconds?: number;
  /** Failed jobs (driver.fail) are retried this many times with exponential backoff. Default 20. */
  retryLimit?: number;
  /** First retry delay in seconds (doubles each time, with jitter, up to 5 minutes). Default 2. */
  retryDelaySeconds?: number;
  /** Queue receiving jobs failed for good (driver.deadLetter or retries exhausted). */
  deadLetter?: string;
}

export interface SendOptions {
  /** Not before this many ms from now. */
  delayMs?: number;
  priority?: number;
}

export interface QueueDriver {
  send<T extends object>(queue: string, data: T, options?: SendOptions): Promise<string>;
  sendMany<T extends object>(queue: string, data: T[], options?: SendOptions): Promise<void>;
  /** Claims up to `max` ready jobs (SKIP LOCKED: concurrent workers never get the same job). */
  fetch<T>(queue: string, max: number): Promise<QueueJob<T>[]>;
  /** Marks jobs done. Fenced: a job that was meanwhile handed to someone else is left alone. */
  complete(queue: string, jobs: QueueJob<unknown>[]): Promise<void>;
  /** Fails a job; it is retried with backoff until the queue's retry limit, then dead-lettered. */
  fail(queue: string, job: QueueJob<unknown>, reason: string): Promise<void>;
  /** Keeps claimed jobs alive (call more often than the queue's heartbeatSeconds). */
  heartbeat(queue: string, jobs: QueueJob<unknown>[]): Promise<void>;
  /** Completes `job` and queues a copy of its data after `delayMs` (throttles, deferrals). */
  reschedule<T extends object>(queue: string, job: QueueJob<T>, delayMs: number): Promise<void>;
  /** Completes `job` and puts `data` into the queue's dead-letter queue; returns the new job id. */
  deadLetter<T extends object>(queue: string, job: QueueJob<unknown>, data: T): Promise<string>;
  /** Removes jobs from a queue (e.g. a dead-letter job once its run is retried). */
  remove(queue: string, ids: string[]): Promise<void>;
  /** Jobs waiting (created or retry) in a queue. */
  pending(queue: string): Promise<number>;
  /** The queue's cron: recurring jobs, one firing across every process on the database. */
  cron: QueueCron;
  stop(): Promise<void>;
}

/** A recurring job: `data` is sent to `queue` on every occurrence of `cron`. */
export interface CronEntry {
  queue: string;
  /** Tells several entries of one queue apart. */
  key: string;
  /** Five fields (minute precision) or six (a leading seconds field). */
  cron: string;
  timezone: string;
  data: object;
  createdOn: Date;
  updatedOn: Date;
}

/**
 * Recurring jobs on the queue's own cron (pg-boss `schedule()`): a process that runs cron passes
 * (`cron: true` when the driver starts) forwards each due occurrence once, whichever and however many
 * processes run passes; an occurrence missed while no process ran passes is sent once, however many
 * were missed.
 */
export interface QueueCron {
  /** Creates or replaces the entry (queue, key). A bad expression or time zone throws. */
  set(queue: string, key: string, cron: string, data: object, options?: { timezone?: string }): Promise<void>;
  unset(queue: string, key: string): Promise<void>;
  list(queue?: string): Promise<CronEntry[]>;
  /** The next `count` occurrences after `from` (default now). */
  next(cron: string, options?: { timezone?: string; from?: Date; count?: number }): Date[];
}
