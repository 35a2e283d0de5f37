import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import type { MissingParam, ParamValue } from '../learning/deploy/render-template.ts';
import type { SearchQuery } from '../learning/search/search.ts';
import { action } from './context.ts';
import { table } from './output.ts';

/**
 * What most pattern commands use, loaded in their actions: `sluice --help` registers every command and
 * needs none of it.
 */
async function learning() {
  const [refresh, stats, format] = await Promise.all([
    import('../learning/refresh.ts'),
    import('../learning/pattern-stats.ts'),
    import('../learning/format-pattern.ts'),
  ]);
  return {
    refreshLearning: refresh.refreshLearning,
    listPatternRows: stats.listPatternRows,
    patternReport: stats.patternReport,
    formatPattern: format.formatPattern,
    pct: format.pct,
    usd: format.usd,
  };
}

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
        const { refreshLearning, listPatternRows, patternReport, pct, usd } = await learning();
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
        const { refreshLearning, listPatternRows, patternReport, formatPattern } = await learning();
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

  cmd
    .command('validate')
    .description(
      'refresh the measured figures: load the library, attach deployed batches, record outcomes, re-judge',
    )
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }) => {
        const { refreshLearning, listPatternRows, patternReport, pct } = await learning();
        const db = await ctx.db();
        const refreshed = await refreshLearning(db);
        const reports = [];
        for (const row of await listPatternRows(db)) reports.push(await patternReport(db, row));
        const rows = reports.map((p) => ({
          pattern: p.slug,
          deployments: p.deployments.length,
          judged: p.evaluated,
          successes: p.successes,
          lowerBound: p.successInterval?.low ?? null,
          maturity: p.maturity,
          why: p.maturityReason,
        }));
        if (ctx.out.json) return ctx.out.result({ ...refreshed, patterns: rows });
        ctx.out.line(
          `${refreshed.batchesAttached} batch(es) attached to deployments, ${refreshed.outcomesAdded} value outcome(s) recorded.`,
        );
        ctx.out.line(
          table(
            rows.map((r) => [
              r.pattern,
              r.deployments,
              `${r.successes}/${r.judged}`,
              pct(r.lowerBound),
              r.maturity,
              r.why,
            ]),
            ['pattern', 'deployments', 'success', 'Wilson low', 'maturity', 'why'],
          ),
        );
      }),
    );

  cmd
    .command('extract')
    .description(
      'draft a pattern from what a batch ran (steps, providers, measured figures), stored as extracted',
    )
    .argument('<batch>', 'batch id')
    .option('--slug <slug>', 'the draft pattern’s slug (default <pipeline>-extracted)')
    .option('--out <dir>', 'library folder to write into', 'patterns')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, o: { slug?: string; out: string; json?: boolean }, batch: string) => {
        const id = Number(batch);
        if (!Number.isInteger(id) || id < 1)
          throw new ConfigError(`batch must be a batch id (got "${batch}")`, { exitCode: 2 });
        const { refreshLearning } = await learning();
        const { extractPattern } = await import('../learning/extract-pattern.ts');
        const db = await ctx.db();
        await refreshLearning(db);
        const r = await extractPattern(db, id, { out: o.out, ...(o.slug ? { slug: o.slug } : {}) });
        if (ctx.out.json) return ctx.out.result(r);
        ctx.out.line(
          `Drafted pattern ${r.slug} from batch ${id} (${r.records} records): ${r.files.join(', ')}.`,
        );
        ctx.out.line(
          'Fill in its use case, context, tags and failure modes; `sluice patterns show` measures it once deployed.',
        );
      }),
    );

  cmd
    .command('deploy')
    .description(
      'write a configured pipeline (and sync/sequence files) from a pattern version’s template and record the deployment',
    )
    .argument('<pattern>', 'pattern slug, or slug@version')
    .requiredOption('--engagement <slug>', 'the engagement it is deployed for (created when new)')
    .option(
      '--param <name=value>',
      'a template parameter (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--out <file>', 'pipeline file to write (default pipelines/<name>.yaml)')
    .option('--force', 'overwrite files that exist with other content')
    .option('--yes', 'never ask: fail listing the missing parameters')
    .option('--json', 'print one JSON object')
    .action(
      action(
        async (
          ctx,
          o: {
            engagement: string;
            param: string[];
            out?: string;
            force?: boolean;
            yes?: boolean;
            json?: boolean;
          },
          pattern: string,
        ) => {
          const { refreshLearning } = await learning();
          const [{ deployPattern }, { parseParamArgs }] = await Promise.all([
            import('../learning/deploy/deploy-pattern.ts'),
            import('../learning/deploy/render-template.ts'),
          ]);
          const db = await ctx.db();
          await refreshLearning(db);
          const interactive = !o.yes && !o.json && process.stdin.isTTY && process.stderr.isTTY;
          const r = await deployPattern(db, {
            pattern,
            engagement: o.engagement,
            params: parseParamArgs(o.param),
            ...(o.out ? { out: o.out } : {}),
            ...(o.force ? { force: true } : {}),
            ...(interactive ? { ask: askParams } : {}),
          });
          if (ctx.out.json) return ctx.out.result(r);
          ctx.out.line(
            `Deployed ${r.pattern} v${r.version} for engagement ${r.engagement}${r.engagementCreated ? ' (new engagement)' : ''} as deployment ${r.deploymentId}.`,
          );
          for (const f of r.files)
            ctx.out.line(
              `  ${f.unchanged ? 'unchanged' : 'wrote'} ${f.path} (${f.kind}${f.validated ? ', validated' : ', not validated: no loader for it yet'})`,
            );
          ctx.out.line(
            `Run it with \`sluice run --pipeline ${r.pipeline}\`: its batches join the deployment, and \`sluice retro ${r.engagement}\` reports them.`,
          );
        },
      ),
    );

  cmd
    .command('search')
    .description('rank patterns and intelligence entries for a client profile and free text, saying why')
    .argument('[text...]', 'free text: what the engagement needs')
    .option('--industry <industry>', 'hard filter: documents for this industry (or for any)')
    .option('--stage <stage>', 'hard filter: documents for this company stage (or for any)')
    .option('--category <category>', 'patterns of this category only: enrichment, integration, automation')
    .option('--kind <kind>', 'pattern or entry only')
    .option('--limit <n>', 'results to print', '10')
    .option('--json', 'print one JSON object')
    .action(
      action(
        async (
          ctx,
          o: {
            industry?: string;
            stage?: string;
            category?: string;
            kind?: string;
            limit: string;
            json?: boolean;
          },
          text: string[],
        ) => {
          const limit = Number(o.limit);
          if (!Number.isInteger(limit) || limit < 1)
            throw new ConfigError(`--limit must be a positive integer (got "${o.limit}")`, { exitCode: 2 });
          const categories = ['enrichment', 'integration', 'automation'];
          if (o.category && !categories.includes(o.category))
            throw new ConfigError(
              `--category must be one of ${categories.join(', ')} (got "${o.category}")`,
              {
                exitCode: 2,
              },
            );
          if (o.kind && o.kind !== 'pattern' && o.kind !== 'entry')
            throw new ConfigError(`--kind must be pattern or entry (got "${o.kind}")`, { exitCode: 2 });
          const { refreshLearning } = await learning();
          const [{ searchLibrary }, { loadEvidence }] = await Promise.all([
            import('../learning/search/search.ts'),
            import('../learning/search/evidence.ts'),
          ]);
          const db = await ctx.db();
          await refreshLearning(db);
          const q: SearchQuery = {
            text: text.join(' '),
            limit,
            ...(o.industry ? { industry: o.industry } : {}),
            ...(o.stage ? { stage: o.stage } : {}),
            ...(o.category ? { category: o.category as NonNullable<SearchQuery['category']> } : {}),
            ...(o.kind ? { kind: o.kind as NonNullable<SearchQuery['kind']> } : {}),
          };
          const hits = await searchLibrary(db, q, await loadEvidence(db));
          if (ctx.out.json) return ctx.out.result({ query: q, hits });
          if (!hits.length) {
            ctx.out.line('Nothing fits these filters (documents with no industry or stage listed fit any).');
            return;
          }
          ctx.out.line(
            table(
              hits.map((h, i) => [i + 1, h.kind, h.slug, h.score.toFixed(3), h.type, h.title]),
              ['#', 'kind', 'slug', 'score', 'type', 'title'],
            ),
          );
          ctx.out.line();
          for (const [i, h] of hits.entries()) ctx.out.line(`${i + 1}. ${h.slug}: ${h.why}`);
        },
      ),
    );
}

/** Asks for each missing parameter on the terminal (stderr), showing its description, type and choices. */
async function askParams(missing: MissingParam[]): Promise<Record<string, ParamValue>> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const out: Record<string, ParamValue> = {};
  try {
    for (const m of missing) {
      const choices = m.spec.enum ? ` [${m.spec.enum.join('|')}]` : '';
      const answer = await rl.question(
        `${m.name} (${m.spec.type}${choices})${m.spec.description ? `: ${m.spec.description}` : ''}? `,
      );
      if (answer.trim() !== '') out[m.name] = answer.trim();
    }
  } finally {
    rl.close();
  }
  return out;
}
