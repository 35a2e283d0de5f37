import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import {
  disableSync,
  enableSync,
  listSchedules,
  runDueSyncs,
  startSyncScheduler,
} from '../sync/sync-schedule.ts';
import { action } from './context.ts';
import { table } from './output.ts';
import { onShutdownSignal } from './run-options.ts';

/**
 * `sluice sync enable|disable|schedules|watch`: switch a definition's `runs` (after a pipeline, every
 * N minutes) on and off, see them, and run the due ones in the foreground (docs/sync.md).
 */
export function registerSyncSchedule(sync: Command): void {
  sync
    .command('enable <sync>')
    .description(
      "act on the definition's runs.after_pipeline / runs.every from now on (in `sluice serve`, `sluice sync watch` and after `sluice run`)",
    )
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }, nameOrFile: string) => {
        const def = await enableSync(await ctx.db(), nameOrFile);
        const runs = def.spec.runs ?? {};
        const when = [
          runs.after_pipeline ? `after every batch of "${runs.after_pipeline}" that finishes` : '',
          runs.every ? `every ${runs.every}` : '',
        ]
          .filter(Boolean)
          .join(' and ');
        if (ctx.out.json) return ctx.out.result({ enabled: def.name, ...runs });
        ctx.out.line(
          `${def.name} → ${def.destination} runs ${when}, while \`sluice serve\` or \`sluice sync watch\` runs (and at the end of \`sluice run\`)`,
        );
      }),
    );

  sync
    .command('disable <sync>')
    .description('stop running a sync by itself (`sluice sync run` still works)')
    .action(
      action(async (ctx, _o: object, name: string) => {
        if (!(await disableSync(await ctx.db(), name)))
          throw new ConfigError(`sync "${name}" is not enabled (see \`sluice sync schedules\`)`, {
            exitCode: 2,
          });
        ctx.out.line(`${name}: disabled`);
      }),
    );

  sync
    .command('schedules')
    .description('enabled syncs: when they run, when they last ran and how it ended')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }) => {
        const rows = await listSchedules(await ctx.db());
        if (ctx.out.json) return ctx.out.result({ schedules: rows });
        if (rows.length === 0)
          return ctx.out.line('no sync is enabled: try `sluice sync enable golf-courses-clickup`');
        ctx.out.line(
          table(
            rows.map((r) => [
              r.syncName,
              r.enabled ? 'on' : 'off',
              [r.afterPipeline ? `after ${r.afterPipeline}` : '', r.every ? `every ${r.every}` : '']
                .filter(Boolean)
                .join(', ') || '(no runs: definition changed?)',
              r.lastStartedAt?.toISOString() ?? '-',
              r.lastStatus ? `${r.lastStatus}${r.lastError ? `: ${r.lastError}` : ''}` : '-',
            ]),
            ['sync', 'enabled', 'runs', 'last started', 'last result'],
          ),
        );
      }),
    );

  sync
    .command('watch')
    .description('run the enabled syncs when they are due, until Ctrl-C (what `sluice serve` does too)')
    .option('--once', 'check once, run what is due, and exit')
    .action(
      action(async (ctx, o: { once?: boolean; json?: boolean }) => {
        const db = await ctx.db();
        const log = (line: string) => ctx.out.warn(line);
        if (o.once) {
          const ran = await runDueSyncs(db, { env: ctx.config.env, log });
          if (ran.length === 0) ctx.out.line('no enabled sync is due');
          if (ran.some((r) => r.error)) ctx.out.incomplete('a sync failed (see `sluice sync schedules`)');
          return;
        }
        const loop = startSyncScheduler(db, {
          env: ctx.config.env,
          log,
          onError: (err) => log(`sync watch: ${(err as Error).message}`),
        });
        ctx.out.warn('sync watch: running due syncs every 5 s (Ctrl-C stops)');
        await new Promise<void>((resolve) => {
          const off = onShutdownSignal(() => {
            off();
            resolve();
          });
        });
        await loop.stop();
      }),
    );
}
