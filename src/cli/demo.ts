import type { Command } from 'commander';
import type { DemoReport } from '../demo/demo-report.ts';
import { SANDBOX_BANNER } from '../sandbox/start-sandbox.ts';
import { action } from './context.ts';
import { table } from './output.ts';
import { createProgressBar } from './progress.ts';
import { parsePositive } from './run-options.ts';

interface DemoOptions {
  json?: boolean;
  records?: string;
  concurrency?: string;
  outreach?: boolean;
  monthLater?: boolean;
}

/**
 * `sluice demo`: the whole job in one command, with no keys and no server: embedded database, the
 * bundled 200 Virginia golf courses, the sandbox's simulated providers, the golf-course pipeline.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'enrich the bundled 200 Virginia golf courses against simulated providers (no keys, no server) and print the results',
    )
    .option('--records <n>', 'enrich only the first N courses')
    .option('--concurrency <n>', 'runs in flight at once', '48')
    .option(
      '--outreach',
      'then start the golf-contacted sequence for a dozen contacted tasks, send step 1 and show replies stopping it',
    )
    .option('--json', 'print one JSON object')
    .option(
      '--month-later',
      'then simulate one month passing (some staff change jobs) and run the freshness pass on 150 contacts: job changes caught, replacements in ClickUp',
    )
    .action(
      action(async (ctx, o: DemoOptions) => {
        // loaded here, not at the top: `sluice --help` registers every command and needs none of this
        const [{ openDb }, { runDemo }] = await Promise.all([
          import('../db/open-db.ts'),
          import('../demo/run-demo.ts'),
        ]);
        const records = o.records !== undefined ? parsePositive('--records', o.records) : undefined;
        const concurrency = parsePositive('--concurrency', o.concurrency ?? '48');
        ctx.out.warn(SANDBOX_BANNER);
        // The demo writes simulated data: it goes to the embedded database unless --database-url is
        // given on the command line (a DATABASE_URL in the environment or .env is not enough).
        const explicitUrl = program.opts<{ databaseUrl?: string }>().databaseUrl;
        if (!explicitUrl && ctx.config.databaseUrl)
          ctx.out.warn(
            `demo: using the embedded database in ${ctx.config.dataDir}, not DATABASE_URL (pass --database-url to use that server)`,
          );
        const db = explicitUrl ? await ctx.db() : await openDb({ dataDir: ctx.config.dataDir });
        let bar: ReturnType<typeof createProgressBar> | undefined;
        let report: DemoReport;
        try {
          report = await runDemo({
            db,
            env: ctx.config.env,
            ...(records !== undefined ? { records } : {}),
            concurrency,
            ...(o.outreach ? { outreach: true } : {}),
            ...(o.monthLater ? { monthLater: true } : {}),
            onStatus: (line) => ctx.out.warn(line),
            onProgress: (_done, total, counters, progress) => {
              bar ??= createProgressBar(total);
              bar.update(progress, counters);
            },
          });
        } finally {
          bar?.stop();
          if (!explicitUrl) await db.close();
        }
        if (ctx.out.json) return ctx.out.result(report);
        printReport(ctx.out.line, report);
      }),
    );
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const money = (x: number) => `$${x.toFixed(4)}`;

const duration = (s: number) =>
  s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 90 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`;

function printReport(line: (text?: string) => void, r: DemoReport): void {
  line();
  line(`${SANDBOX_BANNER}.`);
  line("Accuracy is measured against the simulated world (the sandbox's ground truth), not real data.");
  line(
    table(
      [
        [
          'courses enriched',
          `${r.accounts_enriched} of ${r.accounts_selected}${r.accounts_failed ? ` (${r.accounts_failed} failed)` : ''}`,
        ],
        ['contacts found', `${r.contacts_found} (${r.contacts_matched} are people of the simulated world)`],
        ['email found', `${pct(r.email_found_rate)}  (accuracy ${pct(r.email_accuracy)})`],
        [
          'phone found',
          `${pct(r.phone_found_rate)}: direct line ${pct(r.phone_direct_found_rate)} (accuracy ${pct(r.phone_direct_accuracy)}), main line ${pct(r.phone_main_line_rate)}`,
        ],
        ['LinkedIn found', `${pct(r.linkedin_found_rate)}  (accuracy ${pct(r.linkedin_accuracy)})`],
        ['segment accuracy', pct(r.segment_accuracy)],
        ['paid calls', String(r.paid_calls)],
        ['cache hits', `${r.cache_hits} of ${r.calls} calls`],
        ['total cost', money(r.total_cost_usd)],
        ['cost per enriched contact', money(r.cost_per_enriched_contact_usd)],
        ['wall time', `${r.wall_time_s.toFixed(1)} s`],
      ],
      ['demo', ''],
    ),
  );
  line();
  line(
    `The demo raises these limits. At the real ones the requests this batch made need at least ${duration(r.limits.made_at_real_limits_s)}; the forecast's upper bound of calls needs ${duration(r.limits.at_real_limits_s)} (${duration(r.limits.at_sandbox_limits_s)} at the demo's):`,
  );
  line(
    table(
      r.limits.changed.map((c) => [
        c.provider,
        c.real,
        c.sandbox,
        `${c.made_requests} requests: ${duration(c.made_at_real_limit_s)}`,
        duration(c.at_real_limit_s),
      ]),
      ['provider', 'real limit', 'demo limit', 'made, at the real limit', 'forecast, at the real limit'],
    ),
  );
  line(
    "llm's requests include its perplexity:sonar calls, which count against the perplexity account (raised above too); the llm row times them all at its 50/min.",
  );
  line();
  line(
    table(
      r.providers.map((p) => [
        p.provider,
        p.calls,
        p.hits,
        p.cache_hits,
        money(p.cost_usd),
        p.over_http ? p.median_latency_ms : `${p.median_latency_ms} (in-process)`,
      ]),
      ['provider', 'calls', 'hits', 'cache hits', 'cost', 'median ms (HTTP round trip)'],
    ),
  );
  line(
    `Requests each fake answered: ${Object.entries(r.fake_requests)
      .map(([id, n]) => `${id} ${n}`)
      .join(', ')}.`,
  );
  if (r.month_later) {
    const m = r.month_later;
    line();
    line(
      `One month later (simulated): ${m.checked} contacts re-checked; ${m.verified} still verified, ${m.changed} job changes and ${m.bounced} bounces marked inactive with their evidence (${m.caught} of the ${m.world_job_changes} real changes among them caught), ${m.unknown} unknown; ${m.replaced} replacements found (${m.new_contacts} new contacts, enriched); ClickUp: ${m.clickup.archived} old tasks archived, ${m.clickup.created} new ones created; ${money(m.cost_usd)}.`,
    );
    for (const e of m.examples) line(`  ${e}`);
    line('See `sluice freshness report` (and `--pass N` for the evidence).');
  }
  line();
  line('Run it again: every answer now comes from the cache, so it makes 0 paid calls.');
}
