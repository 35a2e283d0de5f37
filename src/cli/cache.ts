import type { Command } from 'commander';
import { cacheStats, purgeCache } from '../cache/cache-maintenance.ts';
import { ConfigError } from '../errors.ts';
import { action } from './context.ts';
import { table } from './output.ts';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses `30d`, `12h`, `90m`, `45s`, `2w` into milliseconds; a ConfigError naming the option otherwise. */
export function parseDuration(value: string, option: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/i.exec(value);
  if (!m) {
    throw new ConfigError(
      `${option} ${JSON.stringify(value)} is not a duration: use a number and a unit, e.g. 30d, 12h, 90m`,
      {
        exitCode: 2,
      },
    );
  }
  return Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
}

interface CacheOptions {
  provider?: string;
  operation?: string;
  olderThan?: string;
  json?: boolean;
}

/** `sluice cache stats|purge`: what the cache holds and saved, and manual purge. */
export function registerCache(program: Command): void {
  const cache = program.command('cache').description('inspect and purge the cache of provider answers');
  cache
    .command('stats')
    .description('entries, hits, misses and money saved, per provider and operation')
    .option('--provider <id>', 'only this provider')
    .option('--operation <name>', 'only this operation')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, options: CacheOptions) => {
        const rows = await cacheStats(await ctx.db(), options);
        const totals = {
          entries: rows.reduce((s, r) => s + r.entries, 0),
          hits: rows.reduce((s, r) => s + r.hits + r.coalesced, 0),
          misses: rows.reduce((s, r) => s + r.misses, 0),
          savedUsd: rows.reduce((s, r) => s + r.savedUsd, 0),
        };
        if (ctx.out.json) return ctx.out.result({ ...totals, operations: rows });
        if (rows.length === 0) return ctx.out.line('the cache is empty and no calls were made yet');
        ctx.out.line(
          table(
            rows.map((r) => [
              `${r.provider}.${r.operation}`,
              r.entries,
              r.notFoundEntries,
              r.hits,
              r.coalesced,
              r.misses,
              `${(r.hitRate * 100).toFixed(1)}%`,
              `$${r.savedUsd.toFixed(2)}`,
            ]),
            ['operation', 'entries', 'not found', 'hits', 'coalesced', 'misses', 'hit rate', 'saved'],
          ),
        );
        ctx.out.line(
          `\n${totals.entries} entries; ${totals.hits} calls answered without paying, $${totals.savedUsd.toFixed(2)} saved`,
        );
      }),
    );
  cache
    .command('purge')
    .description(
      'delete cached answers (all of them unless filtered), so the next calls ask the provider again',
    )
    .option('--provider <id>', 'only this provider')
    .option('--operation <name>', 'only this operation')
    .option('--older-than <duration>', 'only entries cached at least this long ago, e.g. 30d, 12h')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, options: CacheOptions) => {
        const olderThanMs = options.olderThan ? parseDuration(options.olderThan, '--older-than') : undefined;
        const deleted = await purgeCache(await ctx.db(), {
          provider: options.provider,
          operation: options.operation,
          olderThanMs,
        });
        if (ctx.out.json) return ctx.out.result({ deleted });
        ctx.out.line(`deleted ${deleted} cache ${deleted === 1 ? 'entry' : 'entries'}`);
      }),
    );
}
