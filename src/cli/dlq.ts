import type { Command } from 'commander';
import { listDeadRuns, retryDeadRuns, showDeadRun } from '../engine/dead-letter.ts';
import { openRunQueue } from '../engine/run-queue.ts';
import { ConfigError } from '../errors.ts';
import { action } from './context.ts';
import { table } from './output.ts';
import { parsePositive } from './run-options.ts';

export function registerDlq(program: Command): void {
  const dlq = program
    .command('dlq')
    .description(
      'the dead-letter queue: failed runs, and partial runs with failed calls, with the reasons; retry reruns only what failed',
    );

  dlq
    .command('list')
    .description('failed runs and partial runs with failed calls, newest first, with the reason')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, o: { limit: string; json?: boolean }) => {
        const runs = await listDeadRuns(await ctx.db(), { limit: parsePositive('--limit', o.limit) });
        if (ctx.out.json) return ctx.out.result({ runs });
        if (runs.length === 0) return ctx.out.line('the dead-letter queue is empty');
        ctx.out.line(
          table(
            runs.map((r) => [
              r.runId,
              r.batchId ?? '-',
              r.pipeline,
              r.accountName ?? `#${r.accountId}`,
              r.state === 'failed' ? 'failed' : `partial (${r.failedCalls} failed)`,
              r.errorClass ?? '',
              r.reason ?? '',
            ]),
            ['run', 'batch', 'pipeline', 'account', 'state', 'class', 'reason'],
          ),
        );
        ctx.out.line(
          '\nretry one with `sluice dlq retry RUN`, a batch with `sluice dlq retry --batch N`, all with `--all`',
        );
      }),
    );

  dlq
    .command('show <run>')
    .description('a failed run: the reason, its errors and its last attempts from the ledger')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }, runArg: string) => {
        const run = await showDeadRun(await ctx.db(), parsePositive('run', runArg));
        if (!run)
          throw new ConfigError(`run ${runArg} is not in the dead-letter queue (see \`sluice dlq list\`)`);
        if (ctx.out.json) return ctx.out.result(run);
        ctx.out.line(
          `run ${run.runId} (batch ${run.batchId ?? '-'}, pipeline ${run.pipeline}), account ${run.accountName ?? ''} #${run.accountId}`,
        );
        ctx.out.line(
          run.state === 'failed'
            ? `failed after ${run.attempts} attempts: [${run.errorClass}] ${run.reason}`
            : `partial: ${run.failedCalls} failed call(s); the fields they would fill are empty`,
        );
        if (run.failedSteps.length > 0) {
          ctx.out.line('\nfailed calls:');
          ctx.out.line(
            table(
              run.failedSteps.map((e) => [
                e.step,
                e.contact ?? '',
                e.provider ? `${e.provider}/${e.operation}` : '',
                e.errorClass,
                e.message,
              ]),
              ['step', 'contact', 'call', 'class', 'reason'],
            ),
          );
        }
        if (run.ledger.length > 0) {
          ctx.out.line('\nlast attempts (ledger):');
          ctx.out.line(
            table(
              run.ledger.map((l) => [
                new Date(l.at).toISOString(),
                `${l.provider}/${l.operation}`,
                l.attempt,
                l.cache,
                l.status,
                l.httpStatus ?? '',
                l.error ?? '',
              ]),
              ['at', 'call', 'attempt', 'cache', 'status', 'http', 'error'],
            ),
          );
        }
      }),
    );

  dlq
    .command('retry [run]')
    .description(
      'send a failed run (or --batch N, or --all) back to the queue: only its failed steps run again',
    )
    .option('--all', 'every run in the dead-letter queue')
    .option('--batch <batch>', "the batch's failed runs and failed calls")
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, o: { all?: boolean; batch?: string; json?: boolean }, runArg?: string) => {
        if (!o.all && !runArg && !o.batch)
          throw new ConfigError('name a run (`sluice dlq retry 42`), or pass --batch N or --all', {
            exitCode: 2,
          });
        const db = await ctx.db();
        const queue = await openRunQueue(db);
        try {
          const which = o.all
            ? 'all'
            : o.batch
              ? { batchId: parsePositive('--batch', o.batch) }
              : [parsePositive('run', runArg!)];
          const ids = await retryDeadRuns(db, queue, which);
          if (ctx.out.json) return ctx.out.result({ requeued: ids });
          if (ids.length === 0)
            return ctx.out.line(o.all ? 'nothing to retry' : `run ${runArg} is not in the dead-letter queue`);
          ctx.out.line(
            `requeued ${ids.length} run(s); a running \`sluice worker\` (or \`sluice run --resume BATCH\`) works them`,
          );
        } finally {
          await queue.stop();
        }
      }),
    );
}
