import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { attemptSummary, listLedger } from '../ledger/ledger-query.ts';
import { action } from './context.ts';
import { table } from './output.ts';

interface LedgerOptions {
  run?: string;
  batch?: string;
  provider?: string;
  unknown?: boolean;
  limit?: string;
  json?: boolean;
}

function positiveInt(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new ConfigError(`${option} ${JSON.stringify(value)} must be a positive whole number`, {
      exitCode: 2,
    });
  }
  return Number(value);
}

/** `sluice ledger`: every call attempt, newest first. */
export function registerLedger(program: Command): void {
  program
    .command('ledger')
    .description('list call attempts (provider, cache hit/miss, status, cost, latency, error), newest first')
    .option('--run <id>', 'only this run')
    .option('--batch <id>', 'only this batch')
    .option('--provider <id>', 'only this provider')
    .option(
      '--unknown',
      'only paid calls of unknown outcome (their process died after the request; price counted as spent)',
    )
    .option('--limit <n>', 'at most this many rows', '50')
    .option('--json', 'print a JSON array')
    .action(
      action(async (ctx, options: LedgerOptions) => {
        const db = await ctx.db();
        const rows = await listLedger(db, {
          runId: positiveInt(options.run, '--run'),
          batchId: positiveInt(options.batch, '--batch'),
          provider: options.provider,
          ...(options.unknown ? { status: 'unknown' } : {}),
          limit: positiveInt(options.limit, '--limit'),
        });
        if (ctx.out.json) return ctx.out.result(rows);
        const summary = await attemptSummary(db);
        if (summary.unknown > 0) {
          ctx.out.warn(
            `${summary.unknown} paid call${summary.unknown === 1 ? '' : 's'} of unknown outcome (the process died after the request): $${summary.unknownUsd.toFixed(4)} counted as spent. List them with "sluice ledger --unknown"; check the provider's dashboard if it matters.`,
          );
        }
        if (rows.length === 0)
          return ctx.out.line(options.unknown ? 'no calls of unknown outcome' : 'no calls recorded');
        ctx.out.line(
          table(
            rows.map((r) => [
              r.createdAt.replace('T', ' ').slice(0, 19),
              `${r.provider}.${r.operation}`,
              r.runId ?? '-',
              r.attempt,
              r.cache,
              r.status,
              r.httpStatus ?? '-',
              `$${r.costUsd.toFixed(4)}`,
              `${r.latencyMs} ms`,
              r.error ? `${r.errorClass}: ${r.error.slice(0, 60)}` : '',
            ]),
            ['time', 'operation', 'run', 'try', 'cache', 'status', 'http', 'cost', 'latency', 'error'],
          ),
        );
      }),
    );
}
