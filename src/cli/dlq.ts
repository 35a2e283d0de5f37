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
    .description('the dead-letter queue: runs that failed for a reason retrying cannot fix');

  dlq
    .command('list')
    .description('failed runs, newest first, with the reason')
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
              r.errorClass ?? '',
              r.reason ?? '',
            ]),
            ['run', 'batch', 'pipeline', 'account', 'class', 'reason'],
          ),
        );
        ctx.out.line('\nretry one with `sluice dlq retry RUN`, all with `sluice dlq retry --all`');
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
        ctx.out.line(`failed after ${run.attempts} attempts: [${run.errorClass}] ${run.reason}`);
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
    .description('send a failed run (or --all) back to the queue; steps that succeeded are not redone')
    .option('--all', 'every failed run')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, o: { all?: boolean; json?: boolean }, runArg?: string) => {
        if (!o.all && !runArg)
          throw new ConfigError('name a run (`sluice dlq retry 42`) or pass --all', { exitCode: 2 });
        const db = await ctx.db();
        const queue = await openRunQueue(db);
        try {
          const ids = await retryDeadRuns(db, queue, o.all ? 'all' : [parsePositive('run', runArg!)]);
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
