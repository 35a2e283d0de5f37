import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { BUILTIN_SCHEDULES } from '../schedules/builtin-schedules.ts';
import { runSchedule } from '../schedules/run-schedule.ts';
import { getAction, parseArgs, scheduleActions } from '../schedules/schedule-actions.ts';
import { applyEntry, installSchedules, openScheduleQueue } from '../schedules/schedule-queue.ts';
import {
  ensureBuiltins,
  getSchedule,
  lastRuns,
  listRuns,
  removeSchedule,
  type ScheduleRun,
  upsertSchedule,
} from '../schedules/schedule-store.ts';
import { action, type CommandContext } from './context.ts';
import { table } from './output.ts';
import { parsePositive } from './run-options.ts';

const when = (d: Date | null | undefined) => (d ? d.toISOString().slice(0, 16).replace('T', ' ') : '-');

function runLine(r: ScheduleRun): string {
  const took = r.finishedAt
    ? ` in ${((r.finishedAt.getTime() - r.startedAt.getTime()) / 1000).toFixed(1)} s`
    : '';
  return `${r.schedule} #${r.id} (${r.trigger}, ${r.runner}): ${r.state}${took}${r.error ? `: ${r.error}` : ''}`;
}

/** The schedules queue for editing entries: no cron passes in this process. */
async function withQueue<T>(
  ctx: CommandContext,
  fn: (q: Awaited<ReturnType<typeof openScheduleQueue>>) => Promise<T>,
) {
  const queue = await openScheduleQueue(await ctx.db());
  try {
    return await fn(queue);
  } finally {
    await queue.stop();
  }
}

export function registerSchedules(program: Command): void {
  const cmd = program
    .command('schedules')
    .description(
      'recurring work on the queue’s cron (freshness, CRM pull, webhook retries…), run by `sluice serve` and `sluice worker`',
    );

  cmd
    .command('list')
    .description('schedules with their next firing and last run; --runs for the recent firings')
    .option('--runs [n]', 'the last n firings instead (default 20)')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, o: { runs?: string | boolean; json?: boolean }) => {
        const db = await ctx.db();
        if (o.runs !== undefined) {
          const runs = await listRuns(db, {
            limit: o.runs === true ? 20 : parsePositive('--runs', String(o.runs)),
          });
          if (ctx.out.json) return ctx.out.result(runs);
          for (const r of runs) ctx.out.line(`${when(r.startedAt)}  ${runLine(r)}`);
          if (runs.length === 0) ctx.out.line('no firings yet');
          return;
        }
        const { schedules, next } = await withQueue(ctx, async (q) => {
          const schedules = await installSchedules(db, q);
          const next = new Map(
            schedules.map((s) => [
              s.name,
              s.enabled ? q.cron.next(s.cron, { timezone: s.timezone })[0] : undefined,
            ]),
          );
          return { schedules, next };
        });
        const last = await lastRuns(db);
        const rows = schedules.map((s) => ({
          ...s,
          next: next.get(s.name) ?? null,
          last: last.get(s.name) ?? null,
        }));
        if (ctx.out.json) return ctx.out.result(rows);
        ctx.out.line(
          table(
            rows.map((s) => [
              s.name + (s.builtin ? ' *' : ''),
              s.enabled ? `${s.cron}${s.timezone === 'UTC' ? '' : ` ${s.timezone}`}` : 'removed',
              s.action + (Object.keys(s.args).length ? ` ${JSON.stringify(s.args)}` : ''),
              when(s.next),
              s.last ? `${when(s.last.startedAt)} ${s.last.state}` : '-',
            ]),
            ['schedule', 'cron', 'action', 'next (UTC)', 'last run'],
          ),
        );
        ctx.out.line(
          '* built-in. Run by `sluice serve` and `sluice worker` (one firing across all processes).',
        );
      }),
    );

  cmd
    .command('add <name>')
    .description('create or replace a schedule (a built-in name overrides it; a removed built-in comes back)')
    .requiredOption(
      '--cron <expr>',
      'five fields, e.g. "*/15 * * * *" or "0 6 1 * *"; six with leading seconds',
    )
    .option(
      '--action <id>',
      `what it runs: ${scheduleActions()
        .map((a) => a.id)
        .join(', ')}`,
    )
    .option('--args <json>', 'the action’s arguments as a JSON object, e.g. \'{"days": 45}\'')
    .option('--tz <zone>', 'time zone of the expression', 'UTC')
    .option('--json', 'print JSON')
    .action(
      action(
        async (
          ctx,
          o: { cron: string; action?: string; args?: string; tz: string; json?: boolean },
          name: string,
        ) => {
          if (!/^[a-z][a-z0-9-]{0,62}$/.test(name))
            throw new ConfigError(
              `schedule name "${name}": lowercase letters, digits and dashes, starting with a letter`,
              {
                exitCode: 2,
              },
            );
          const db = await ctx.db();
          await ensureBuiltins(db, BUILTIN_SCHEDULES); // a built-in's name means the built-in, before serve ever ran
          const existing = await getSchedule(db, name);
          const actionId = o.action ?? existing?.action;
          if (!actionId) throw new ConfigError('--action is required for a new schedule', { exitCode: 2 });
          const act = getAction(actionId);
          let rawArgs: unknown = existing && !o.args && existing.action === actionId ? existing.args : {};
          if (o.args) {
            try {
              rawArgs = JSON.parse(o.args);
            } catch (err) {
              throw new ConfigError(`--args is not JSON: ${(err as Error).message}`, {
                exitCode: 2,
                cause: err,
              });
            }
          }
          parseArgs(act, rawArgs, name);
          const s = {
            name,
            action: actionId,
            args: rawArgs as Record<string, unknown>,
            cron: o.cron,
            timezone: o.tz,
            builtin: existing?.builtin ?? false,
            enabled: true,
          };
          const next = await withQueue(ctx, async (q) => {
            // pg-boss checks the expression and the zone; the row is written only when they pass
            try {
              await applyEntry(q, s);
            } catch (err) {
              throw new ConfigError(
                `--cron ${JSON.stringify(o.cron)} --tz ${o.tz}: ${(err as Error).message}`,
                {
                  exitCode: 2,
                  cause: err,
                },
              );
            }
            await upsertSchedule(db, s);
            return q.cron.next(s.cron, { timezone: s.timezone, count: 3 });
          });
          if (ctx.out.json) return ctx.out.result({ ...s, next });
          ctx.out.line(
            `${name}: ${actionId} on "${o.cron}" (${o.tz}); next ${next.map((d) => when(d)).join(', ')} UTC`,
          );
        },
      ),
    );

  cmd
    .command('remove <name>')
    .description('remove a schedule (a built-in stays removed until `add` brings it back)')
    .action(
      action(async (ctx, _o: unknown, name: string) => {
        const db = await ctx.db();
        await ensureBuiltins(db, BUILTIN_SCHEDULES);
        const s = await getSchedule(db, name);
        if (!s || !(await removeSchedule(db, name)))
          throw new ConfigError(`no schedule "${name}" (see \`sluice schedules list\`)`, { exitCode: 2 });
        await withQueue(ctx, (q) => applyEntry(q, { ...s, enabled: false }));
        ctx.out.line(
          `${name}: removed${s.builtin ? ' (built-in: `sluice schedules add` brings it back)' : ''}`,
        );
      }),
    );

  cmd
    .command('run-now <name>')
    .description('run a schedule’s action now in this process and print what it did (recorded like a firing)')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, _o: { json?: boolean }, name: string) => {
        const db = await ctx.db();
        await ensureBuiltins(db, BUILTIN_SCHEDULES); // a built-in's name means the built-in, before serve ever ran
        const s = await getSchedule(db, name);
        if (!s)
          throw new ConfigError(`no schedule "${name}" (see \`sluice schedules list\`)`, { exitCode: 2 });
        const needsEngine = getAction(s.action).needsEngine === true;
        const engine = needsEngine
          ? await (await import('../engine/engine-services.ts')).openRunEngine(ctx.config, db)
          : undefined;
        try {
          const run = await runSchedule(
            { db, env: ctx.config.env, ...(engine ? { engine } : {}), log: (l) => ctx.out.warn(l) },
            name,
            { trigger: 'manual' },
          );
          if (ctx.out.json) ctx.out.result(run);
          else {
            ctx.out.line(runLine(run));
            if (run.summary) ctx.out.line(JSON.stringify(run.summary, null, 2));
          }
          if (run.state !== 'succeeded') ctx.out.incomplete(`${name}: ${run.state}`);
        } finally {
          await engine?.queue.stop();
        }
      }),
    );
}
