import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { pct, usd } from '../learning/format-pattern.ts';
import type { OptimizeReport } from '../learning/optimizer/recommend-order.ts';
import { action } from './context.ts';
import { table } from './output.ts';

interface OptimizeOptions {
  pipeline: string;
  step: string;
  segmentBy?: string;
  apply?: boolean;
  json?: boolean;
}

/** `sluice optimize`: the provider order of a waterfall step, from its recorded outcomes. */
export function registerOptimize(program: Command): void {
  program
    .command('optimize')
    .description(
      'recommend the provider order of a waterfall step (per segment) from recorded outcomes; --apply writes it',
    )
    .requiredOption('--pipeline <name>', 'built-in pipeline name or pipeline file')
    .requiredOption('--step <id>', 'waterfall step id (a foreach child as `email` or `emails.email`)')
    .option('--segment-by <field>', 'an account field (e.g. segment): one order per value')
    .option('--apply', 'write the recommended order into the pipeline file')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, o: OptimizeOptions) => {
        // loaded here, not at the top: `sluice --help` registers every command and needs none of this
        const [{ recommendOrder }, { applyOrder }] = await Promise.all([
          import('../learning/optimizer/recommend-order.ts'),
          import('../learning/optimizer/apply-order.ts'),
        ]);
        const db = await ctx.db();
        const report = await recommendOrder(db, {
          pipeline: o.pipeline,
          step: o.step,
          ...(o.segmentBy ? { segmentBy: o.segmentBy } : {}),
        });
        if (report.records === 0)
          throw new ConfigError(
            `no recorded traffic for step ${report.step} of ${report.pipeline}: run the pipeline first (\`sluice run --pipeline ${report.pipeline}\`)`,
            { exitCode: 1 },
          );
        let applied = false;
        if (o.apply) {
          const orders = new Map<string, number[]>([['', report.overall.order]]);
          for (const s of report.segments) if (s.segment && !s.backedOff) orders.set(s.segment, s.order);
          await applyOrder(report.file, report.ref, {
            orders,
            ...(o.segmentBy ? { segmentBy: o.segmentBy } : {}),
          });
          applied = true;
        }
        const { ref: _ref, ...json } = report;
        if (ctx.out.json) return ctx.out.result({ ...json, applied });
        print(ctx.out.line, report);
        ctx.out.line();
        ctx.out.line(
          applied
            ? `Written to ${report.file}.`
            : `Write it with --apply (rewrites ${report.file}; per-segment orders become entries with a \`when\` on the segment).`,
        );
      }),
    );
}

function print(line: (s?: string) => void, r: OptimizeReport): void {
  line(
    `${r.pipeline} · step ${r.step} · ${r.records} recorded records${r.segmentBy ? ` · by ${r.segmentBy}` : ''}`,
  );
  line(
    `prices: list prices from ${r.providers.reduce((s, p) => s + p.price.n, 0)} real requests (a cache hit is not a price)${r.validator ? `; validator ${r.validator.provider}.${r.validator.operation} ${usd(r.validator.hitUsd)}/check` : ''}`,
  );
  line();
  line(
    table(
      r.providers.map((p) => [
        p.position,
        `${p.provider}.${p.operation}`,
        `${usd(p.price.hitUsd)} / ${usd(p.price.missUsd)}`,
        p.tried,
        p.rate === null ? '-' : `${pct(p.rate)} [${pct(p.interval?.low)}–${pct(p.interval?.high)}]`,
        p.rejected,
        p.skipped,
        p.errors,
      ]),
      [
        '#',
        'provider',
        'price hit / miss',
        'tried',
        'accepted after the ones above failed [95%]',
        'rejected',
        'skipped',
        'errors',
      ],
    ),
  );
  line();
  for (const s of r.segments) {
    line(
      `${s.segment ? `segment ${s.segment} (${s.records} records${s.backedOff ? `, fewer than 30: uses the whole step's model` : ''})` : `all ${s.records} records`}:`,
    );
    line(
      `  current      ${s.current.join(' → ')}: ${usd(s.currentCostPerRecordUsd)}/record, ${usd(s.currentCostPerFoundUsd)}/found value`,
    );
    line(
      `  recommended  ${s.recommended.join(' → ')}: ${usd(s.recommendedCostPerRecordUsd)}/record, ${usd(s.recommendedCostPerFoundUsd)}/found value (${pct(s.foundShare)} found)`,
    );
    line(
      `  confidence   the best order in ${pct(s.confidence, 0)} of 200 posterior draws${s.confidence < 0.95 ? ': thin data, the rest is a guess worth exploring' : ''}`,
    );
  }
  line();
  if (r.correlations.length) {
    line('Overlap between providers (rate without vs after the other failed):');
    for (const c of r.correlations)
      line(
        `  ${c.provider} after ${c.after} failed: ${pct(c.afterFailed.rate)} (n=${c.afterFailed.trials}) vs ${pct(c.without.rate)} (n=${c.without.trials})${c.afterFailed.rate < 0.5 * c.without.rate ? ': largely the same data (a reseller?)' : ''}`,
      );
  }
  if (r.unmeasuredPairs)
    line(
      `${r.unmeasuredPairs} provider pairs were only ever seen in one order: their overlap is unmeasured and the model backs off to each provider's pooled rate there.`,
    );
}
