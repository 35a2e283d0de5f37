import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { formatPattern, pct, usd } from '../learning/format-pattern.ts';
import { listPatternRows, patternReport } from '../learning/pattern-stats.ts';
import { refreshLearning } from '../learning/refresh.ts';
import { action } from './context.ts';
import { table } from './output.ts';

/** `sluice patterns list|show|…`: the pattern library with figures measured from recorded runs. */
export function registerPatterns(program: Command): void {
  const cmd = program
    .command('patterns')
    .description('the pattern library: measured coverage, cost, speed and success of every pattern');

  cmd
    .command('list')
    .description('list patterns with their measured figures and maturity')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }) => {
        const db = await ctx.db();
        await refreshLearning(db);
        const reports = [];
        for (const row of await listPatternRows(db)) reports.push(await patternReport(db, row));
        if (ctx.out.json) return ctx.out.result({ patterns: reports });
        ctx.out.line(
          table(
            reports.map((p) => [
              p.slug,
              p.category,
              p.maturity,
              `${p.successes}/${p.evaluated}`,
              p.measured ? `${pct(p.measured.coverage)} (n=${p.measured.records})` : '-',
              p.measured ? `${usd(p.measured.costPerRecordUsd)} (n=${p.measured.records})` : '-',
              p.name,
            ]),
            ['pattern', 'category', 'maturity', 'success', 'coverage', 'cost/record', 'name'],
          ),
        );
        ctx.out.line();
        ctx.out.line(
          'Details: `sluice patterns show <pattern>`; documented benchmarks are shown apart from measured ones.',
        );
      }),
    );

  cmd
    .command('show')
    .description('a pattern in the "Pattern / Use Case / Sequence / Performance / Failure Modes" format')
    .argument('<pattern>', 'pattern slug, e.g. golf-courses')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }, slug: string) => {
        const db = await ctx.db();
        await refreshLearning(db);
        const row = (await listPatternRows(db, slug))[0];
        if (!row) {
          const known = (await listPatternRows(db)).map((p) => p.slug);
          throw new ConfigError(`no pattern "${slug}" (known: ${known.join(', ') || 'none'})`, {
            exitCode: 2,
          });
        }
        const report = await patternReport(db, row);
        if (ctx.out.json) return ctx.out.result(report);
        for (const line of formatPattern(report)) ctx.out.line(line);
      }),
    );
}
