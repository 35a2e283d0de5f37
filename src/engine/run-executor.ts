import type { Db } from '../db/db.ts';
import {
  CriticalError,
  errorClassOf,
  InfrastructureError,
  isCallFailure,
  isDatabaseUnavailable,
  NotFoundError,
  SluiceError,
  ThrottledError,
} from '../errors.ts';
import type { QueueDriver, QueueJob } from '../queue/queue-driver.ts';
import { redactSecrets } from '../secrets/redact.ts';
import { retryWhileDatabaseDown } from './db-retry.ts';
import { FinalWriter } from './final-writer.ts';
import type { Gateway } from './gateway-types.ts';
import { MemoWriter } from './memo-writer.ts';
import type {
  ContactView,
  FieldWrite,
  PipelineDefinition,
  StepContext,
  StepError,
  StepOutput,
} from './pipeline-types.ts';
import { type CallCounters, emptyStats, runGateway } from './run-gateway.ts';
import { applyStepOutput, recordViewOf } from './run-record.ts';
import {
  type AttemptStats,
  type ClaimedRun,
  claimAndLoadRun,
  finishRun,
  type LoadedRun,
  requeueRun,
  setDlqJob,
  stopBatch,
} from './run-store.ts';

/** One memo writer and one final writer per database, shared by every run of the process (group commit). */
const writers = new WeakMap<Db, { memo: MemoWriter; final: FinalWriter }>();
function writersFor(db: Db) {
  let w = writers.get(db);
  if (!w) {
    w = { memo: new MemoWriter(db), final: new FinalWriter(db) };
    writers.set(db, w);
  }
  return w;
}

/** The queue all runs go through, and where failed runs land (`sluice dlq`). */
export const RUNS_QUEUE = 'sluice.runs';
export const RUNS_DLQ = 'sluice.runs.dlq';

export interface RunJobData {
  runId: number;
}

export interface DeadLetterData {
  runId: number;
  reason: string;
  errorClass: string;
}

export interface RunEngine {
  db: Db;
  queue: QueueDriver;
  gateway: Gateway;
  /** Pipeline by the name or file stored on the run (see resolve-pipeline.ts). */
  resolvePipeline(ref: string): Promise<PipelineDefinition>;
  /** Completes a job; the worker loop batches these. Default: queue.complete right away. */
  complete?(job: QueueJob<RunJobData>): Promise<void>;
  counters?: CallCounters;
  /** Retryable failures (after the gateway's own retries) before the run fails. Default 3. */
  maxFailures?: number;
  /** Wait before a run deferred without a known time (infrastructure) is tried again. Default 30 s. */
  deferMs?: number;
  /** Wait after a throttle that said nothing about when to come back. Default 5 s. */
  throttleMs?: number;
  /**
   * Throttle ceiling: a run rescheduled for throttles more than this many times without progress
   * goes to the dead-letter queue as `throttled` (a provider that never lets it through must end).
   * Default 20 (`SLUICE_THROTTLE_MAX_RESCHEDULES`).
   */
  maxThrottles?: number;
  /** Throttle ceiling in time: throttled without progress for longer than this. Default 30 min. */
  maxThrottledMs?: number;
  /** Wait before a run deferred because the database went away is tried again. Default 2 s. */
  dbDeferMs?: number;
  /** How long bookkeeping statements are retried while the database is unreachable. Default 60 s. */
  dbRetryMs?: number;
  /** Told about each wait for the database (the worker loop reports the outage once). */
  onDatabaseWait?(err: unknown): void;
}

/** What happened to one job; the worker loop counts these for the summary. */
export type RunOutcome =
  | 'enriched'
  | 'partial'
  | 'failed'
  | 'retrying'
  | 'deferred'
  | 'throttled'
  | 'released'
  | 'budget'
  | 'skipped';

/**
 * Executes one run job: claims the run, replays memoized steps, runs the rest, and writes every result
 * in one transaction at the end. Failures are sorted by the error taxonomy (src/errors.ts): retry,
 * reschedule, defer, stop the batch, or fail into the dead-letter queue. Never throws for a run's own
 * failure; a throw means the database is unreachable, and the job then comes back after its heartbeat
 * lapses.
 */
export async function executeRunJob(
  engine: RunEngine,
  job: QueueJob<RunJobData>,
  signal: AbortSignal,
): Promise<RunOutcome> {
  const { db, queue } = engine;
  const complete = engine.complete ?? ((j: QueueJob<RunJobData>) => queue.complete(RUNS_QUEUE, [j]));
  // Bookkeeping waits out a database restart: the job stays claimed (heartbeats continue) meanwhile.
  const retry = <T>(fn: () => Promise<T>) =>
    retryWhileDatabaseDown(fn, {
      maxMs: engine.dbRetryMs ?? 60_000,
      signal,
      ...(engine.onDatabaseWait ? { onWait: engine.onDatabaseWait } : {}),
    });
  const run = await retry(() => claimAndLoadRun(db, job.data.runId, job.id));
  if (!run) {
    await complete(job);
    return 'skipped';
  }
  const stats = emptyStats();
  if (run.batchStatus === 'stopped') {
    await retry(() => requeueRun(db, run.id, job.id, stats));
    await complete(job);
    return 'released';
  }
  const progress = { saved: 0 };
  try {
    const result = await runSteps(engine, run, stats, signal, progress);
    const state = result.anyNotFound || result.errors.length > 0 ? 'partial' : 'enriched';
    const written = await writersFor(db).final.write({
      result: {
        runId: run.id,
        accountId: run.accountId,
        writes: result.writes,
        newContacts: result.newContacts,
      },
      jobId: job.id,
      state,
      stats,
      errors: result.errors,
      redriven: run.redrives > 0,
    });
    await complete(job);
    return written ? state : 'skipped';
  } catch (err) {
    return retry(() => settleFailure(engine, run, job, stats, err, signal, complete, progress.saved > 0));
  }
}

interface StepsResult {
  writes: FieldWrite[];
  newContacts: { contact: ContactView; stepId: string; observedAt: string }[];
  anyNotFound: boolean;
  /** Calls that failed for good (steps with status `failed`): the run ends partial, listing them. */
  errors: StepError[];
}

async function runSteps(
  engine: RunEngine,
  run: LoadedRun,
  attempt: AttemptStats,
  signal: AbortSignal,
  progress: { saved: number },
): Promise<StepsResult> {
  const pipeline = await engine.resolvePipeline(run.pipeline).catch((err: unknown) => {
    throw new CriticalError(`pipeline "${run.pipeline}" cannot be loaded: ${(err as Error).message}`, {
      cause: err,
    });
  });
  const record = recordViewOf(run);
  const memo = new Map(Object.entries(run.memo));
  const memoWriter = writersFor(engine.db).memo;
  const result: StepsResult = { writes: [], newContacts: [], anyNotFound: false, errors: [] };
  // On the last attempt for retryable errors, a call that still fails fails its step, not the run.
  const finalAttempt = run.failures + 1 >= (engine.maxFailures ?? 3);
  for (const step of pipeline.steps) {
    let output = memo.get(step.id);
    if (!output) {
      const stepStats = emptyStats();
      const ctx: StepContext = {
        run: { id: run.id, batchId: run.batchId ?? undefined, pipeline: pipeline.name },
        record,
        gateway: runGateway(
          engine.gateway,
          { id: run.id, batchId: run.batchId ?? undefined, refresh: run.refresh },
          () => stepStats,
          engine.counters,
        ),
        async memo(key, fn) {
          const full = `${step.id}/${key}`;
          const stored = memo.get(full);
          if (stored) return stored;
          const out = await fn();
          await memoWriter.save(run.id, full, out, emptyStats());
          progress.saved++;
          memo.set(full, out);
          return out;
        },
        signal,
        finalAttempt,
      };
      try {
        output = await step.run(ctx);
      } catch (err) {
        if (err instanceof NotFoundError) {
          output = { status: 'not_found', writes: [] };
        } else if (isCallFailure(err, finalAttempt) && !signal.aborted) {
          const gaveUp =
            errorClassOf(err) === 'retryable' ? `gave up after ${run.failures + 1} attempts: ` : '';
          const message = redactSecrets(`step "${step.id}" failed: ${gaveUp}${(err as Error).message}`);
          if (step.required) throw new CriticalError(message, { cause: err });
          // An optional step whose call failed for good yields nothing; the run ends partial, listing it.
          const error: StepError = { step: step.id, errorClass: errorClassOf(err), message };
          output = { status: 'failed', writes: [], data: { errors: [error] } };
        } else {
          addStats(attempt, stepStats);
          throw err;
        }
      }
      addStats(attempt, stepStats);
      await memoWriter.save(run.id, step.id, output, stepStats);
      progress.saved++;
      memo.set(step.id, output);
    }
    if (output.status === 'not_found') result.anyNotFound = true;
    if (output.status === 'failed') {
      const errors = stepErrors(step.id, output);
      if (step.required) {
        throw new CriticalError(
          `required step "${step.id}" failed: ${errors[0]?.message ?? 'no reason given'}`,
        );
      }
      result.errors.push(...errors);
    }
    if (output.status === 'not_found' && step.required) {
      throw new CriticalError(`required step "${step.id}" found nothing`);
    }
    applyStepOutput(record, output);
    result.writes.push(...output.writes);
    const observedAt = new Date().toISOString();
    for (const contact of output.newContacts ?? [])
      result.newContacts.push({ contact, stepId: step.id, observedAt });
  }
  return result;
}

/** The failed calls a failed step recorded (a step from code may record none: one entry then). */
function stepErrors(stepId: string, output: StepOutput): StepError[] {
  const listed = output.data?.errors;
  if (Array.isArray(listed) && listed.length > 0) return listed as StepError[];
  return [{ step: stepId, errorClass: 'critical', message: `step "${stepId}" failed` }];
}

function addStats(into: AttemptStats, from: AttemptStats): void {
  into.calls += from.calls;
  into.cacheHits += from.cacheHits;
  into.costUsd += from.costUsd;
}

async function settleFailure(
  engine: RunEngine,
  run: ClaimedRun,
  job: QueueJob<RunJobData>,
  stats: AttemptStats,
  err: unknown,
  signal: AbortSignal,
  complete: (job: QueueJob<RunJobData>) => Promise<void>,
  progressed: boolean,
): Promise<RunOutcome> {
  const { db, queue } = engine;
  const message = err instanceof Error ? err.message : String(err);
  const errorClass = errorClassOf(err);
  if (signal.aborted && !(err instanceof SluiceError && errorClass === 'critical')) {
    // Shutting down: hand the run back untouched; its finished steps stay memoized.
    await requeueRun(db, run.id, job.id, stats);
    await queue.reschedule(RUNS_QUEUE, job, 0);
    return 'released';
  }
  switch (errorClass) {
    case 'throttled': {
      const throttles = progressed ? 1 : run.throttles + 1;
      const throttledMs = progressed ? 0 : run.throttledMs;
      const maxThrottles = engine.maxThrottles ?? 20;
      const maxMs = engine.maxThrottledMs ?? 30 * 60_000;
      if (throttles > maxThrottles || throttledMs > maxMs) {
        return failRun(
          engine,
          run,
          job,
          stats,
          'throttled',
          `throttled ${throttles} times over ${Math.round(throttledMs / 1000)} s without progress (ceiling: ${maxThrottles} reschedules or ${Math.round(maxMs / 60_000)} min); last: ${message}. Check the provider's plan and limits, then \`sluice dlq retry\``,
        );
      }
      await requeueRun(
        db,
        run.id,
        job.id,
        stats,
        { errorClass, message, countFailure: false, throttled: true },
        progressed,
      );
      const wait = err instanceof ThrottledError ? err.retryAfterMs : undefined;
      await queue.reschedule(RUNS_QUEUE, job, wait ?? engine.throttleMs ?? 5000);
      return 'throttled';
    }
    case 'infrastructure': {
      const database = isDatabaseUnavailable(err);
      const recorded = database ? `database unavailable: ${message}` : message;
      await requeueRun(
        db,
        run.id,
        job.id,
        stats,
        { errorClass, message: recorded, countFailure: false },
        progressed,
      );
      const at = err instanceof InfrastructureError ? err.retryAt : undefined;
      const fallback = database ? (engine.dbDeferMs ?? 2_000) : (engine.deferMs ?? 30_000);
      const wait = at ? Math.max(1000, at.getTime() - Date.now()) : fallback;
      await queue.reschedule(RUNS_QUEUE, job, wait);
      return 'deferred';
    }
    case 'budget': {
      if (run.batchId !== null) await stopBatch(db, run.batchId, message);
      await requeueRun(db, run.id, job.id, stats, { errorClass, message, countFailure: false }, progressed);
      await complete(job);
      return 'budget';
    }
    case 'retryable': {
      if (run.failures + 1 < (engine.maxFailures ?? 3)) {
        await requeueRun(db, run.id, job.id, stats, { errorClass, message, countFailure: true }, progressed);
        await queue.fail(RUNS_QUEUE, job, message);
        return 'retrying';
      }
      return failRun(
        engine,
        run,
        job,
        stats,
        errorClass,
        `gave up after ${run.failures + 1} attempts: ${message}`,
      );
    }
    default:
      return failRun(engine, run, job, stats, errorClass, message);
  }
}

async function failRun(
  engine: RunEngine,
  run: ClaimedRun,
  job: QueueJob<RunJobData>,
  stats: AttemptStats,
  errorClass: string,
  reason: string,
): Promise<RunOutcome> {
  const owned = await finishRun(engine.db, run.id, job.id, 'failed', stats, { errorClass, message: reason });
  if (!owned) {
    await engine.queue.complete(RUNS_QUEUE, [job]);
    return 'skipped';
  }
  const dlqId = await engine.queue.deadLetter<DeadLetterData>(RUNS_QUEUE, job, {
    runId: run.id,
    reason,
    errorClass,
  });
  await setDlqJob(engine.db, run.id, dlqId);
  return 'failed';
}
