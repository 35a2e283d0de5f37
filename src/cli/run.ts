import type { Command } from 'commander';
import { batchProgress, createBatch, resumeBatch, settleBatch } from '../engine/batch.ts';
import { redriveBatch } from '../engine/dead-letter.ts';
import { findProvider, openRunEngine } from '../engine/engine-services.ts';
import { forecastBatch } from '../engine/forecast.ts';
import type { CallCounters } from '../engine/run-gateway.ts';
import { selectAccountsSql } from '../engine/selection.ts';
import { startWorker } from '../engine/worker-loop.ts';
import { ConfigError } from '../errors.ts';
import { checkCredentialsFor } from '../providers/credentials.ts';
import { action } from './context.ts';
import { table } from './output.ts';
import { createProgressBar } from './progress.ts';
import { onShutdownSignal, parseIds, parsePositive } from './run-options.ts';

interface RunOptions {
  pipeline: string;
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
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'enrich accounts through a pipeline: enqueue one run per account and work until the batch is done',
    )
    .requiredOption('--pipeline <name|file>', 'built-in pipeline name or path of a pipeline .yaml file')
    .option('--where <filter>', 'only accounts matching, e.g. "state=CA and phone is empty"')
    .option('--limit <n>', 'at most this many accounts')
    .option('--ids <ids>', 'only these account ids, comma-separated')
    .option('--budget <usd>', 'stop the batch before it spends more than this')
    .option('--refresh', 'ignore cached answers (fresh answers are still cached)')
    .option('--concurrency <n>', 'runs in flight at once in this process', '10')
    .option('--resume <batch>', 'continue a stopped or interrupted batch instead of starting one')
    .option('--retry-failed <batch>', 'rerun only the failed calls of a finished batch (successes are kept)')
    .option('--dry-run', 'print the expected paid calls, cost and duration, spend nothing')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, o: RunOptions) => {
        const selection = {
          ...(o.where ? { where: o.where } : {}),
          ...(o.limit ? { limit: parsePositive('--limit', o.limit) } : {}),
          ...(o.ids ? { ids: parseIds(o.ids) } : {}),
        };
        const budgetUsd = o.budget !== undefined ? parseBudget(o.budget) : undefined;
        const concurrency = parsePositive('--concurrency', o.concurrency ?? '10');
        const db = await ctx.db();
        const counters: CallCounters = { calls: 0, cacheHits: 0, costUsd: 0 };
        const engine = await openRunEngine(ctx.config, db, { counters });
        try {
          // Resolve first: a bad pipeline is a usage error before anything is queued.
          const pipeline = await engine.resolvePipeline(o.pipeline);
          // Every key the pipeline needs, checked before anything is queued or spent.
          const keyCheck = () =>
            checkCredentialsFor(
              { providers: (pipeline.forecast ?? []).map((f) => f.provider), models: pipeline.models ?? [] },
              ctx.config.env,
            );
          if (o.dryRun) {
            try {
              keyCheck();
            } catch (err) {
              ctx.out.warn(`warning: ${(err as Error).message}`);
            }
            const select = selectAccountsSql(selection, 1);
            const ids = (await db.query<{ id: number }>(select.text, select.params)).rows.map((r) => r.id);
            const f = await forecastBatch(db, pipeline, ids, findProvider, { refresh: o.refresh ?? false });
            if (ctx.out.json) return ctx.out.result({ dryRun: true, pipeline: pipeline.name, ...f });
            ctx.out.line(`dry run: ${f.records} accounts through "${pipeline.name}" (nothing is spent)`);
            if (f.note) ctx.out.line(f.note);
            ctx.out.line(
              table(
                f.lines.map((l) => [
                  `${l.provider}/${l.operation}`,
                  l.calls,
                  l.cached,
                  l.paidCalls,
                  `$${l.costUsd.toFixed(2)}`,
                  l.limit ?? '-',
                  `${Math.ceil(l.minSeconds)}s`,
                ]),
                ['call', 'calls', 'cached', 'paid', 'cost', 'limit', 'at least'],
              ),
            );
            ctx.out.line(
              `expected: ${f.paidCalls} paid calls, $${f.costUsd.toFixed(2)}, at least ${formatDuration(f.seconds)} (rate limits)`,
            );
            return;
          }
          keyCheck();
          const started = Date.now();
          const batch = o.retryFailed
            ? await redriveBatch(db, engine.queue, parsePositive('--retry-failed', o.retryFailed))
            : o.resume
              ? await resumeBatch(db, engine.queue, parsePositive('--resume', o.resume), {
                  ...(budgetUsd !== undefined ? { budgetUsd } : {}),
                })
              : await createBatch(db, engine.queue, {
                  pipeline: o.pipeline,
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
            onError: (err) => ctx.out.warn(`worker: ${(err as Error).message}`),
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
            ctx.out.line(
              `batch stopped; continue with: sluice run --pipeline ${o.pipeline} --resume ${p.id} [--budget USD]`,
            );
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
