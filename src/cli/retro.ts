import { join } from 'node:path';
import type { Command } from 'commander';
import { action } from './context.ts';

interface RetroOptions {
  out?: string;
  stdout?: boolean;
  json?: boolean;
}

/** `sluice retro ENGAGEMENT`: the engagement's retrospective, measured from its deployments' runs. */
export function registerRetro(program: Command): void {
  program
    .command('retro')
    .description(
      'write an engagement’s retrospective (planned vs actual, metrics, patterns vs benchmarks, failures, cost); text between sluice:human markers is kept',
    )
    .argument('<engagement>', 'engagement slug, e.g. demo')
    .option('--out <file>', 'markdown file to write (default retros/<engagement>.md)')
    .option('--stdout', 'print the markdown instead of writing a file')
    .option('--json', 'print one JSON object (figures and markdown)')
    .action(
      action(async (ctx, o: RetroOptions, slug: string) => {
        // loaded here, not at the top: `sluice --help` registers every command and needs none of this
        const [{ refreshLearning }, { generateRetro }] = await Promise.all([
          import('../learning/refresh.ts'),
          import('../learning/retro/write-retro.ts'),
        ]);
        const db = await ctx.db();
        const refreshed = performance.now();
        await refreshLearning(db);
        const refreshMs = performance.now() - refreshed;
        const file = o.stdout ? undefined : (o.out ?? join('retros', `${slug}.md`));
        const r = await generateRetro(db, slug, file ? { file } : {});
        if (ctx.out.json) return ctx.out.result({ ...r, refreshMs });
        if (!file) {
          ctx.out.line(r.markdown);
          return;
        }
        ctx.out.line(
          `Wrote ${file} in ${(r.ms / 1000).toFixed(2)} s (outcomes refreshed in ${(refreshMs / 1000).toFixed(2)} s)${r.kept ? '; the human sections of the previous version were kept' : ''}.`,
        );
      }),
    );
}
