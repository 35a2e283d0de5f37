import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { formatIssue } from '../pipelines/load.ts';
import { parseEvery, repeatEvery } from '../sync/every.ts';
import { builtinSyncs, loadSync, SyncFileError } from '../sync/load-sync.ts';
import { pollSync } from '../sync/poll-sync.ts';
import { runSync, type SyncReport } from '../sync/run-sync.ts';
import { listConflicts, resolveConflict } from '../sync/sync-conflicts.ts';
import { syncErrors, syncStatus } from '../sync/sync-status.ts';
import { action, type CommandContext } from './context.ts';
import { table } from './output.ts';
import { once, parseIds, parsePositive } from './run-options.ts';
import { createSyncProgressBar } from './sync-progress.ts';
import { registerSyncSchedule } from './sync-schedule.ts';

/** `sluice sync`: push records to CRMs under a sync definition (docs/sync.md). */
export function registerSync(program: Command): void {
  const sync = program
    .command('sync')
    .description('sync records to ClickUp, HubSpot or GoHighLevel (definitions in syncs/)');

  sync
    .command('list')
    .description('the built-in sync definitions')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }) => {
        const names = await builtinSyncs();
        const defs = await Promise.all(names.map((n) => loadSync(n)));
        if (ctx.out.json)
          return ctx.out.result({
            syncs: defs.map((d) => ({
              name: d.name,
              destination: d.destination,
              object: d.object,
              records: d.spec.records,
              mode: d.spec.mode,
            })),
          });
        ctx.out.line(
          table(
            defs.map((d) => [
              d.name,
              d.destination,
              d.object,
              d.spec.records,
              d.spec.mode,
              d.spec.description ?? '',
            ]),
            ['name', 'destination', 'object', 'records', 'mode', 'description'],
          ),
        );
      }),
    );

  sync
    .command('validate <files...>')
    .description('check sync definition files; errors as file:line:col: field: message')
    .action(
      action(async (ctx, _o: object, files: string[]) => {
        // Every file is checked: one bad file (an alias bomb, a typo) does not hide the others' state.
        let invalid = 0;
        for (const f of files) {
          try {
            const d = await loadSync(f);
            ctx.out.line(
              `${f}: ok (${d.destination} ${d.object}, ${d.fields.length} fields, mode ${d.spec.mode})`,
            );
          } catch (err) {
            if (!(err instanceof ConfigError)) throw err;
            invalid++;
            ctx.out.line(
              err instanceof SyncFileError ? err.issues.map(formatIssue).join('\n') : `${f}: ${err.message}`,
            );
          }
        }
        if (invalid)
          throw new ConfigError(`${invalid} of ${files.length} sync definition file(s) are invalid`);
      }),
    );

  const addRun = (name: 'preview' | 'run', description: string) =>
    sync
      .command(`${name} <sync>`)
      .description(description)
      .option(
        '--ids <ids>',
        'only these record ids (comma-separated)',
        once('--ids', 'pass the ids once, comma-separated, e.g. --ids 1,2,3'),
      )
      .option('--json', 'print one JSON object')
      .action(
        action(async (ctx, o: { ids?: string; json?: boolean }, nameOrFile: string) => {
          const def = await loadSync(nameOrFile);
          const ids =
            o.ids !== undefined
              ? parseIds(o.ids, { noun: 'record', omitted: 'leave --ids out to sync every record' })
              : undefined;
          const bar = createSyncProgressBar({
            enabled: name === 'run' && !ctx.out.json && process.stderr.isTTY === true,
          });
          let report: SyncReport;
          try {
            report = await runSync({
              db: await ctx.db(),
              def,
              env: ctx.config.env,
              preview: name === 'preview',
              ...(ids ? { ids } : {}),
              onProgress: (p) => bar.update(p),
            });
          } finally {
            bar.stop();
          }
          printReport(ctx, def.name, def.destination, report, name === 'preview');
        }),
      );
  addRun('preview', 'what a sync would create, update and archive; nothing is sent');
  addRun('run', 'send what changed since the last sync, with a progress bar');

  sync
    .command('poll <sync>')
    .description(
      'read what reps changed in the CRM since the stored watermark and apply the per-field rules (backs up webhooks)',
    )
    .option('--every <duration>', 'keep polling, e.g. 15m (Ctrl-C stops)')
    .option('--json', 'print one JSON object per poll')
    .action(
      action(async (ctx, o: { every?: string; json?: boolean }, nameOrFile: string) => {
        const every = o.every ? parseEvery('--every', o.every) : undefined;
        const def = await loadSync(nameOrFile);
        const db = await ctx.db();
        await repeatEvery(every, async () => {
          const r = await pollSync({
            db,
            def,
            env: ctx.config.env,
            ...ourSource(ctx.config.env, def.destination),
          });
          if (ctx.out.json) return ctx.out.result({ sync: def.name, ...r });
          ctx.out.line(
            `${def.name} ← ${def.destination}: ${r.records} changed records read; ${r.applied} applied, ${r.echo} echoes, ${r.kept} kept, ${r.conflict} conflicts, ${r.same} unchanged; watermark ${r.watermark?.toISOString() ?? 'none (nothing synced yet)'}; ${r.requests} requests`,
          );
          if (r.conflict)
            ctx.out.warn('see `sluice sync conflicts` for the values the rules could not decide');
        });
      }),
    );

  sync
    .command('conflicts [sync]')
    .description('CRM edits the per-field rules could not decide; resolve each with `sluice sync resolve`')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }, name?: string) => {
        const rows = await listConflicts(await ctx.db(), name);
        if (ctx.out.json) return ctx.out.result({ conflicts: rows });
        if (rows.length === 0) return ctx.out.line('no open conflicts');
        const show = (v: unknown) =>
          v === null || v === undefined ? '(empty)' : typeof v === 'string' ? v : JSON.stringify(v);
        ctx.out.line(
          table(
            rows.map((r) => [
              `#${r.id}`,
              r.syncName,
              `${r.entityType} ${r.entityId}`,
              r.field,
              `${show(r.ours)}${r.oursSource ? ` (${r.oursSource})` : ''}`,
              `${show(r.theirs)} (${r.theirsAt.toISOString()})`,
            ]),
            ['id', 'sync', 'record', 'field', 'Sluice', 'CRM'],
          ),
        );
        ctx.out.line(
          'resolve with `sluice sync resolve <sync> <id> --crm` (take the CRM value) or `--sluice` (send ours)',
        );
      }),
    );

  sync
    .command('resolve <sync> <id>')
    .description(
      'resolve a conflict: --crm records the CRM value as a manual edit, --sluice sends ours on the next sync',
    )
    .option('--crm', 'take the CRM value')
    .option('--sluice', 'keep the Sluice value')
    .option('--json', 'print one JSON object')
    .action(
      action(
        async (
          ctx,
          o: { crm?: boolean; sluice?: boolean; json?: boolean },
          nameOrFile: string,
          id: string,
        ) => {
          if (!o.crm === !o.sluice)
            throw new ConfigError('give exactly one of --crm or --sluice', { exitCode: 2 });
          const def = await loadSync(nameOrFile);
          const c = await resolveConflict(
            await ctx.db(),
            def,
            parsePositive('<id>', id.replace(/^#/, '')),
            o.crm ? 'crm' : 'sluice',
          );
          if (ctx.out.json) return ctx.out.result({ resolved: c.id, side: o.crm ? 'crm' : 'sluice' });
          ctx.out.line(
            `conflict #${c.id} resolved: ${o.crm ? `${c.field} takes the ${def.destination} value` : `the next \`sluice sync run ${def.name}\` sends the Sluice value`}`,
          );
        },
      ),
    );

  sync
    .command('status [sync]')
    .description('per sync: records in the destination, their last results, the last run')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }, name?: string) => {
        const rows = await syncStatus(await ctx.db(), name);
        if (ctx.out.json) return ctx.out.result({ syncs: rows });
        if (rows.length === 0)
          return ctx.out.line('no sync has run yet: try `sluice sync preview golf-courses-clickup`');
        ctx.out.line(
          table(
            rows.map((r) => [
              r.syncName,
              r.destination,
              r.records,
              r.ok,
              r.skipped,
              r.retryable,
              r.permanent,
              r.lastRun ? `#${r.lastRun.id} ${r.lastRun.status} ${r.lastRun.startedAt.toISOString()}` : '-',
            ]),
            ['sync', 'destination', 'records', 'ok', 'skipped', 'retryable', 'permanent', 'last run'],
          ),
        );
      }),
    );

  sync
    .command('errors [sync]')
    .description(
      'records whose last sync was not ok: retryable ones go again on every sync, permanent ones once they change',
    )
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, o: { limit: string; json?: boolean }, name?: string) => {
        const rows = await syncErrors(await ctx.db(), name, parsePositive('--limit', o.limit));
        if (ctx.out.json) return ctx.out.result({ errors: rows });
        if (rows.length === 0) return ctx.out.line('no sync errors');
        ctx.out.line(
          table(
            rows.map((r) => [
              r.syncName,
              `${r.entityType} ${r.entityId}`,
              r.remoteId ?? '-',
              r.status,
              r.failures,
              r.error ?? '',
            ]),
            ['sync', 'record', 'remote id', 'status', 'failures', 'error'],
          ),
        );
      }),
    );

  registerSyncSchedule(sync);
}

/** HubSpot names the app behind each change: with HUBSPOT_APP_ID set, our own are echoes at once. */
export function ourSource(env: Readonly<Record<string, string | undefined>>, destination: string) {
  return destination === 'hubspot' && env.HUBSPOT_APP_ID
    ? { ourSource: `INTEGRATION:${env.HUBSPOT_APP_ID}` }
    : {};
}

function printReport(
  ctx: CommandContext,
  name: string,
  destination: string,
  r: SyncReport,
  preview: boolean,
): void {
  if (ctx.out.json) {
    ctx.out.result({ sync: name, destination, preview, ...r });
    return;
  }
  const c = r.counts;
  ctx.out.line(
    `${preview ? 'preview of ' : ''}${name} → ${destination}: ${c.created} ${preview ? 'to create' : 'created'}, ${c.updated} ${preview ? 'to update' : 'updated'}, ${c.archived} ${preview ? 'to archive' : 'archived'}, ${c.unchanged} unchanged, ${c.skipped} skipped${preview ? '' : `, ${c.retryable} retryable, ${c.permanent} permanent; ${c.requests} requests`}`,
  );
  if (preview && r.plan.length) {
    ctx.out.line(
      table(
        r.plan.slice(0, 50).map((p) => [p.op, p.key, p.route ?? '', p.reason ?? (p.fields ?? []).join(', ')]),
        ['op', 'record', 'route', 'fields / reason'],
      ),
    );
    if (r.plan.length > 50) ctx.out.line(`…and ${r.plan.length - 50} more (--json for all)`);
  }
  for (const e of r.errors.slice(0, 10)) ctx.out.warn(`${e.status}: ${e.key}: ${e.error}`);
  if (r.errors.length) ctx.out.warn('see `sluice sync errors` for every record that did not sync');
}
