import type { Command } from 'commander';
import type { Forecast } from '../engine/forecast.ts';
import type { PipelineDefinition } from '../engine/pipeline-types.ts';
import type { CallCounters } from '../engine/run-gateway.ts';
import { ConfigError } from '../errors.ts';
import { confirmLargeSelection } from './confirm.ts';
import { action, warnError } from './context.ts';
import { type Output, table } from './output.ts';
import { createProgressBar } from './progress.ts';
import { once, onShutdownSignal, parseIds, parsePositive } from './run-options.ts';

interface RunOptions {
  pipeline?: string;
  where?: string;
  limit?: string;
  ids?: string;
  budget?: string;
  refresh?: boolean;
  concurrency?: string;
  json?: boolean;
  dryRun?: boolean;
  resume?: string;
  retryFailed?: string;
  yes?: boolean;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'enrich accounts through a pipeline: enqueue one run per account and work until the batch is done',
    )
    .option(
      '--pipeline <name|file>',
      'built-in pipeline name or path of a pipeline .yaml file (not needed with --resume/--retry-failed)',
      once('--pipeline', 'pass one pipeline'),
    )
    .option(
      '--where <filter>',
      'only accounts matching, e.g. "state=VA and (city in (Richmond, Norfolk) or phone is empty)"',
      once('--where', 'combine the conditions in one filter, e.g. --where "state=VA and city=Richmond"'),
    )
    .option('--limit <n>', 'at most this many accounts', once('--limit', 'pass one limit'))
    .option(
      '--ids <ids>',
      'only these account ids, comma-separated',
      once('--ids', 'pass the ids once, comma-separated, e.g. --ids 1,2,3'),
    )
    .option(
      '--budget <usd>',
      'stop the batch before it spends more than this',
      once('--budget', 'pass one budget'),
    )
    .option('--refresh', 'ignore cached answers (fresh answers are still cached)')
    .option('--concurrency <n>', 'runs in flight at once in this process', '10')
    .option('--resume <batch>', 'continue a stopped or interrupted batch instead of starting one')
    .option('--retry-failed <batch>', 'rerun only the failed calls of a finished batch (successes are kept)')
    .option('--dry-run', 'print the paid calls, cost and duration it may take (upper bounds), spend nothing')
    .option(
      '-y, --yes',
      'go ahead with a selection over the confirmation thresholds (SLUICE_CONFIRM_RECORDS, default 100 records; SLUICE_CONFIRM_USD, default $10 forecast) without asking',
    )
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, o: RunOptions) => {
        // loaded here, not at the top: `sluice --help` registers every command and needs none of this
        const [
          { batchProgress, createBatch, resumeBatch, settleBatch },
          { redriveBatch },
          { findProvider, openRunEngine },
          { forecastBatch },
          {
            FILTER_COLUMNS,
            knownFilterFields,
            parseWhere,
            selectAccountsSql,
            unknownAccountIds,
            validateWhere,
          },
          { startWorker },
          { loadPipeline, resolvePipeline },
          { checkCredentialsFor },
          { runDueSyncs },
        ] = await Promise.all([
          import('../engine/batch.ts'),
          import('../engine/dead-letter.ts'),
          import('../engine/engine-services.ts'),
          import('../engine/forecast.ts'),
          import('../engine/selection.ts'),
          import('../engine/worker-loop.ts'),
          import('../pipelines/resolve.ts'),
          import('../providers/credentials.ts'),
          import('../sync/sync-schedule.ts'),
        ]);
        // Everything that needs no database is checked first: flags, the filter's syntax, the pipeline.
        const existing = o.resume ?? o.retryFailed;
        if (o.resume && o.retryFailed)
          throw new ConfigError('--resume and --retry-failed cannot be combined; pick one', { exitCode: 2 });
        if (existing && (o.where !== undefined || o.ids !== undefined || o.limit !== undefined))
          throw new ConfigError(
            `${o.resume ? '--resume' : '--retry-failed'} continues batch ${existing} with the accounts it was started with; --where, --ids and --limit apply to a new batch only`,
            { exitCode: 2 },
          );
        if (!existing && !o.pipeline)
          throw new ConfigError(
            "missing --pipeline <name|file> (see `sluice pipelines list`); only --resume and --retry-failed take the batch's own pipeline",
            { exitCode: 2 },
          );
        if (o.where !== undefined) parseWhere(o.where);
        const selection = {
          ...(o.where !== undefined ? { where: o.where } : {}),
          ...(o.limit !== undefined ? { limit: parsePositive('--limit', o.limit) } : {}),
          ...(o.ids !== undefined ? { ids: parseIds(o.ids) } : {}),
        };
        const budgetUsd = o.budget !== undefined ? parseBudget(o.budget) : undefined;
        const concurrency = parsePositive('--concurrency', o.concurrency ?? '10');
        const batchId = existing
          ? parsePositive(o.resume ? '--resume' : '--retry-failed', existing)
          : undefined;
        // A bad pipeline is a usage error before the database is even opened.
        let pipelineRef = o.pipeline;
        let pipeline = pipelineRef ? await preCheckPipeline(pipelineRef) : undefined;
        // Every key the pipeline needs, checked before anything is queued or spent.
        const keyCheck = (p: PipelineDefinition) =>
          checkCredentialsFor(
            { providers: (p.forecast ?? []).map((f) => f.provider), models: p.models ?? [] },
            ctx.config.env,
          );
        if (pipeline && pipeline !== DEFERRED && !o.dryRun) keyCheck(pipeline);
        const db = await ctx.db();
        if (batchId !== undefined) {
          const row = (
            await db.query<{ pipeline: string; status: string }>(
              'SELECT pipeline, status FROM batches WHERE id = $1',
              [batchId],
            )
          ).rows[0];
          if (!row)
            throw new ConfigError(`batch ${batchId} does not exist (see \`sluice status\`)`, { exitCode: 2 });
          const own = await resolvePipeline(row.pipeline);
          if (
            pipeline &&
            pipelineRef !== row.pipeline &&
            (pipeline === DEFERRED || pipeline.name !== own.name)
          )
            throw new ConfigError(
              `batch ${batchId} runs pipeline "${row.pipeline}", not "${pipelineRef}"; drop --pipeline to continue it`,
              { exitCode: 2 },
            );
          pipelineRef = row.pipeline;
          pipeline = own;
          if (!o.dryRun) keyCheck(pipeline);
        }
        if (!pipeline || !pipelineRef) throw new Error('unreachable: no pipeline');
        // Every field the pipeline reads must exist: a column, an attribute the pipeline writes or
        // declares, or one the stored records have (what imports kept). Checked before anything is queued.
        const stored = async (entity: 'account' | 'contact') =>
          (await knownFilterFields(db, entity)).filter((f) => !FILTER_COLUMNS[entity].includes(f));
        pipeline = (
          await loadPipeline(pipelineRef, {
            knownAttributes: { account: await stored('account'), contact: await stored('contact') },
          })
        ).definition;
        if (!o.dryRun) keyCheck(pipeline);
        let accountIds: number[] = [];
        if (batchId === undefined) {
          // Unknown fields and ids are refused before anything is queued: a typo never selects everything.
          if (selection.where !== undefined) await validateWhere(db, selection.where);
          const unknown = await unknownAccountIds(db, selection.ids ?? []);
          if (unknown.length)
            throw new ConfigError(
              `--ids: no account has id ${unknown.join(', ')}; nothing was queued (see \`sluice export\` for ids)`,
              { exitCode: 2 },
            );
          const select = selectAccountsSql(selection, 1);
          accountIds = (await db.query<{ id: number }>(select.text, select.params)).rows.map((r) =>
            Number(r.id),
          );
        } else if (o.dryRun) {
          accountIds = (
            await db.query<{ id: number }>(
              `SELECT account_id AS id FROM runs WHERE batch_id = $1 AND state ${o.resume ? "= 'queued'" : "= 'failed'"} ORDER BY account_id`,
              [batchId],
            )
          ).rows.map((r) => Number(r.id));
        }
        if (o.dryRun || batchId === undefined) {
          const f = await forecastBatch(db, pipeline, accountIds, findProvider, {
            refresh: o.refresh ?? false,
          });
          if (o.dryRun) {
            try {
              keyCheck(pipeline);
            } catch (err) {
              ctx.out.warn(`warning: ${(err as Error).message}`);
            }
            return printForecast(ctx.out, pipeline.name, f, budgetUsd);
          }
          if (accountIds.length === 0) return printNothingSelected(ctx.out, pipeline.name, o.where);
          await confirmLargeSelection({
            records: f.records,
            costUsd: f.costUsd,
            thresholds: ctx.config.confirmAbove,
            yes: o.yes ?? false,
            what: `run ${f.records} accounts through "${pipeline.name}"`,
          });
        }
        const counters: CallCounters = { calls: 0, cacheHits: 0, costUsd: 0 };
        const engine = await openRunEngine(ctx.config, db, { counters });
        try {
          const started = Date.now();
          const batch = o.retryFailed
            ? await redriveBatch(db, engine.queue, batchId!)
            : o.resume
              ? await resumeBatch(db, engine.queue, batchId!, {
                  ...(budgetUsd !== undefined ? { budgetUsd } : {}),
                })
              : await createBatch(db, engine.queue, {
                  pipeline: pipelineRef,
                  selection,
                  ...(budgetUsd !== undefined ? { budgetUsd } : {}),
                  refresh: o.refresh ?? false,
                });
          if (!ctx.out.json) ctx.out.warn(`batch ${batch.id}: ${batch.total} runs of "${pipeline.name}"`);
          const bar = createProgressBar(batch.total);
          const worker = startWorker({
            engine,
            concurrency,
            until: () => settleBatch(db, batch.id),
            onError: (err) => warnError(ctx, 'worker', err),
            onNotice: (line) => ctx.out.warn(`worker: ${line}`),
          });
          const offSignal = onShutdownSignal(() => {
            ctx.out.warn('stopping: finishing in-flight runs (the rest stay queued; resume with --resume)');
            worker.stop();
          });
          const ticker = setInterval(() => {
            batchProgress(db, batch.id)
              .then((p) => bar.update(p, counters))
              .catch(() => {});
          }, 500);
          await worker.done;
          clearInterval(ticker);
          offSignal();
          const p = await batchProgress(db, batch.id);
          bar.update(p, counters);
          bar.stop();
          // Enabled syncs that run after this pipeline (`sluice sync enable`) go now; a server that got
          // there first holds their lease, and then they are not run twice.
          const synced =
            p.status === 'running'
              ? []
              : await runDueSyncs(db, {
                  env: ctx.config.env,
                  pipeline: pipelineRef ?? pipeline.name,
                  log: (line) => ctx.out.warn(line),
                });
          const summary = {
            batch: p.id,
            pipeline: pipeline.name,
            status: p.status,
            stopReason: p.stopReason,
            runs: {
              total: p.total,
              enriched: p.enriched,
              partial: p.partial,
              failed: p.failed,
              queued: p.queued + p.running,
            },
            calls: p.calls,
            cacheHits: p.cacheHits,
            costUsd: Number(p.costUsd.toFixed(6)),
            wallSeconds: Number(((Date.now() - started) / 1000).toFixed(2)),
            ...(synced.length
              ? {
                  syncs: synced.map((s) => ({
                    sync: s.syncName,
                    reason: s.reason,
                    ...(s.report ? { counts: s.report.counts } : {}),
                    ...(s.error ? { error: s.error } : {}),
                  })),
                }
              : {}),
          };
          // Exit code 1 unless every run asked for was done: a failed run, a budget stop or runs left
          // queued all mean the work is not finished (the summary is printed either way).
          const unfinished = p.queued + p.running;
          const shortfall = [
            p.failed > 0 ? `${p.failed} of ${p.total} runs failed` : '',
            p.status === 'stopped' ? `batch ${p.id} stopped${p.stopReason ? ` (${p.stopReason})` : ''}` : '',
            unfinished > 0 ? `${unfinished} runs not finished` : '',
          ].filter(Boolean);
          if (ctx.out.json) {
            ctx.out.result(summary);
            if (shortfall.length) ctx.out.incomplete(`incomplete: ${shortfall.join('; ')}`);
            return;
          }
          ctx.out.line(
            table(
              [
                ['status', p.status + (p.stopReason ? ` (${p.stopReason})` : '')],
                ['enriched', p.enriched],
                ['partial', p.partial],
                ['failed', p.failed],
                ['not run', p.queued + p.running],
                ['calls', p.calls],
                ['cache hits', p.cacheHits],
                ['cost', `$${p.costUsd.toFixed(4)}`],
                ['wall time', formatDuration(summary.wallSeconds)],
              ],
              [`batch ${p.id}`, ''],
            ),
          );
          if (p.status === 'stopped')
            ctx.out.line(`batch stopped; continue with: sluice run --resume ${p.id} [--budget USD]`);
          if (p.queued + p.running > 0 && p.status !== 'stopped')
            ctx.out.line(
              `${p.queued + p.running} runs not finished; continue with --resume ${p.id} or a worker`,
            );
          if (p.failed > 0) ctx.out.line(`${p.failed} runs failed: see \`sluice dlq list\``);
          if (shortfall.length) ctx.out.incomplete(`incomplete: ${shortfall.join('; ')}`);
        } finally {
          await engine.queue.stop();
        }
      }),
    );
}

/**
 * A selection no account matches: nothing is queued and no empty batch is created, and the user is
 * told so (a misspelt value, `state=Virgina`, looks the same as a finished batch otherwise). Exit 0:
 * there was nothing to do, as in a scheduled run whose filter matches nothing today.
 */
function printNothingSelected(out: Output, name: string, where: string | undefined): void {
  const message = `no account matches${where !== undefined ? ` --where ${JSON.stringify(where)}` : ' the selection'}: nothing was queued (no batch created)`;
  if (out.json) {
    out.result({
      batch: null,
      pipeline: name,
      status: 'empty',
      stopReason: null,
      runs: { total: 0, enriched: 0, partial: 0, failed: 0, queued: 0 },
      calls: 0,
      cacheHits: 0,
      costUsd: 0,
      wallSeconds: 0,
    });
    out.warn(message);
    return;
  }
  out.line(message);
}

/** `--dry-run`: the forecast as a table (or JSON), with `--budget` against it. */
function printForecast(out: Output, name: string, f: Forecast, budgetUsd: number | undefined): void {
  const budget =
    budgetUsd === undefined
      ? undefined
      : {
          usd: budgetUsd,
          covers: f.costUsd <= budgetUsd,
          // roughly how many records the budget pays for at the forecast's cost per record
          records:
            f.costUsd > 0 ? Math.min(f.records, Math.floor((budgetUsd / f.costUsd) * f.records)) : f.records,
        };
  if (out.json) {
    out.result({ dryRun: true, pipeline: name, ...f, ...(budget ? { budget } : {}) });
    return;
  }
  out.line(`dry run: ${f.records} accounts through "${name}" (nothing is spent)`);
  if (f.note) out.line(f.note);
  out.line(
    table(
      f.lines.map((l) => [
        `${l.provider}/${l.operation}`,
        l.calls,
        l.skipped,
        l.cached,
        l.paidCalls,
        `$${l.costUsd.toFixed(2)}`,
        l.limit ?? '-',
        `${Math.ceil(l.minSeconds)}s`,
      ]),
      ['call', 'calls ≤', 'skipped', 'cached', 'paid ≤', 'cost ≤', 'limit', 'at least'],
    ),
  );
  out.line(
    `upper bound: at most ${f.paidCalls} paid calls, $${f.costUsd.toFixed(2)}; at least ${formatDuration(f.seconds)} at the rate limits`,
  );
  out.line(
    `  (a waterfall stops at its first hit and a step may find nothing, so fewer calls are usual; "skipped": calls a \`when\`, a filled field or an empty input rules out from the stored values${f.undecided ? `; ${f.undecided} calls depend on values earlier steps write and are counted as made` : ''})`,
  );
  if (budget)
    out.line(
      budget.covers
        ? `budget $${budget.usd.toFixed(2)} covers the upper bound`
        : `budget $${budget.usd.toFixed(2)} is below the upper bound $${f.costUsd.toFixed(2)}: the batch stops when it is spent (about ${budget.records} of ${f.records} accounts at the upper bound), and \`--resume\` continues it`,
    );
}

/** Stands for a pipeline whose only problems may be fields the stored records have (checked once the database is open). */
const DEFERRED: PipelineDefinition = { name: '(checked with the database)', steps: [] };

/**
 * The pipeline check that needs no database: everything but fields that only stored attributes could
 * vouch for (those are checked against the database right after).
 */
async function preCheckPipeline(ref: string): Promise<PipelineDefinition> {
  const [{ loadPipeline }, { PipelineFileError }] = await Promise.all([
    import('../pipelines/resolve.ts'),
    import('../pipelines/load.ts'),
  ]);
  try {
    return (await loadPipeline(ref)).definition;
  } catch (err) {
    if (err instanceof PipelineFileError && err.issues.every((i) => /^unknown field "/.test(i.message)))
      return DEFERRED;
    throw err;
  }
}

function parseBudget(raw: string): number {
  const usd = Number(raw.replace(/^\$/, ''));
  if (!Number.isFinite(usd) || usd < 0)
    throw new ConfigError(`--budget must be an amount in USD such as 5 or 12.50, got "${raw}"`, {
      exitCode: 2,
    });
  return usd;
}

function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${Math.round(seconds % 60)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}
