import type { Command } from 'commander';
import { listPasses, passChanges } from '../freshness/freshness-report.ts';
import { action } from './context.ts';
import { table } from './output.ts';
import { parsePositive } from './run-options.ts';

const when = (d: Date | null) => (d ? d.toISOString().slice(0, 16).replace('T', ' ') : '-');

export function registerFreshness(program: Command): void {
  const cmd = program
    .command('freshness')
    .description(
      're-verify contacts not verified for N days: bounces and job changes marked inactive with evidence, replacements found and synced',
    );

  cmd
    .command('run')
    .description('one pass now, in this process (the `freshness` schedule runs it monthly)')
    .option('--days <n>', 'contacts whose last verification is older than this', '30')
    .option('--limit <n>', 'at most this many contacts, oldest first')
    .option(
      '--pipeline <name>',
      'enriches the replacements (default: the pipeline that enriched the account)',
    )
    .option('--sync <name>', 'the sync to update (default: the built-in syncs in use)')
    .option('--json', 'print the report as JSON')
    .action(
      action(
        async (
          ctx,
          o: { days: string; limit?: string; pipeline?: string; sync?: string; json?: boolean },
        ) => {
          const db = await ctx.db();
          const { openRunEngine } = await import('../engine/engine-services.ts');
          const { runFreshness } = await import('../freshness/run-freshness.ts');
          const engine = await openRunEngine(ctx.config, db);
          try {
            const r = await runFreshness({
              db,
              engine,
              env: ctx.config.env,
              days: parsePositive('--days', o.days),
              ...(o.limit ? { limit: parsePositive('--limit', o.limit) } : {}),
              ...(o.pipeline ? { pipeline: o.pipeline } : {}),
              ...(o.sync ? { syncs: [o.sync] } : {}),
              onStatus: (line) => ctx.out.warn(line),
            });
            if (ctx.out.json) return ctx.out.result(r);
            ctx.out.line(
              `pass ${r.passId}: ${r.selected} checked; ${r.verified} verified, ${r.changed} changed jobs, ${r.bounced} bounced, ${r.unknown} unknown, ${r.failed} failed; ${r.replaced} replacements found (${r.newContacts} new contacts); $${r.costUsd.toFixed(4)}`,
            );
            if (r.failed) ctx.out.incomplete(`${r.failed} checks failed (see \`sluice freshness report\`)`);
          } finally {
            await engine.queue.stop();
          }
        },
      ),
    );

  cmd
    .command('report')
    .description(
      'the last passes (verified, changed, bounced, replaced, cost); --pass N for its changes and evidence',
    )
    .option('--pass <id>', 'one pass: every changed or bounced contact with the evidence and the replacement')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, o: { pass?: string; json?: boolean }) => {
        const db = await ctx.db();
        if (o.pass) {
          const rows = await passChanges(db, parsePositive('--pass', o.pass));
          if (ctx.out.json) return ctx.out.result(rows);
          for (const r of rows) {
            const e = r.evidence as {
              email?: { status: string };
              employment?: { organization: string | null; title: string | null };
            };
            const why =
              r.outcome === 'changed'
                ? `now ${e.employment?.title ? `${e.employment.title} at ` : 'at '}${e.employment?.organization ?? '?'} (apollo)`
                : r.outcome === 'bounced'
                  ? `email ${e.email?.status ?? r.emailStatus ?? '?'} (hunter)`
                  : JSON.stringify(r.evidence);
            ctx.out.line(
              `${r.outcome.padEnd(8)} #${r.contactId} ${r.name ?? '?'} (${r.account ?? '-'}): ${why}${r.replacement ? ` → replaced by #${r.replacement.id} ${r.replacement.name ?? ''}${r.replacement.email ? ` <${r.replacement.email}>` : ''}` : ''}`,
            );
          }
          if (rows.length === 0) ctx.out.line('no changes in that pass');
          return;
        }
        const passes = await listPasses(db);
        if (ctx.out.json) return ctx.out.result(passes);
        if (passes.length === 0) return ctx.out.line('no freshness pass yet (`sluice freshness run`)');
        ctx.out.line(
          table(
            passes.map((p) => [
              p.id,
              when(p.startedAt),
              p.state,
              p.selected,
              p.verified,
              p.changed,
              p.bounced,
              p.unknown + p.failed,
              p.replaced,
              `$${p.costUsd.toFixed(4)}`,
            ]),
            [
              'pass',
              'started',
              'state',
              'checked',
              'verified',
              'changed',
              'bounced',
              'unknown',
              'replaced',
              'cost',
            ],
          ),
        );
      }),
    );
}
