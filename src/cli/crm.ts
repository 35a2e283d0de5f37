import type { Command } from 'commander';
import { effectiveLimits } from '../crm/rate-override.ts';
import { destinations } from '../crm/registry.ts';
import { pullCrm } from '../sync/crm-pull.ts';
import { parseEvery, repeatEvery } from '../sync/every.ts';
import { loadSync } from '../sync/load-sync.ts';
import { action } from './context.ts';
import { table } from './output.ts';

/** `sluice crm`: the CRM destinations, and importing a CRM's existing records (docs/sync.md). */
export function registerCrm(program: Command): void {
  const crm = program
    .command('crm')
    .description('CRM destinations: list them, pull their existing records into Sluice');

  crm
    .command('list')
    .description('the CRMs Sluice syncs to: auth variables, limits in force, objects')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }) => {
        const env = ctx.config.env;
        const rows = destinations.map((d) => ({
          id: d.id,
          name: d.name,
          auth: [d.auth.envVar, ...(d.auth.extra ?? []).map((e) => e.envVar)],
          configured: [d.auth.envVar, ...(d.auth.extra ?? []).map((e) => e.envVar)].every(
            (v) => !!env[v]?.trim(),
          ),
          limits: [
            ...effectiveLimits(d.id, d.limits, env),
            ...(d.searchLimits ?? []).map((l) => ({ ...l, label: `${l.label} search` })),
          ].map((l) => l.label ?? `${l.limit}/${l.windowMs}ms`),
          objects: Object.keys(d.objects),
        }));
        if (ctx.out.json) return ctx.out.result({ destinations: rows });
        ctx.out.line(
          table(
            rows.map((r) => [
              r.id,
              r.name,
              r.auth.join(' + '),
              r.configured ? 'yes' : 'no',
              r.limits.join(', '),
              r.objects.join(', '),
            ]),
            ['id', 'name', 'auth', 'configured', 'limits', 'objects'],
          ),
        );
      }),
    );

  crm
    .command('pull <sync>')
    .description(
      "import the CRM's existing records of a sync's object into Sluice (deduplicated like an import) and link them, so the sync updates them instead of creating duplicates",
    )
    .option('--every <duration>', 'keep pulling, e.g. 30m (Ctrl-C stops)')
    .option('--json', 'print one JSON object per pull')
    .action(
      action(async (ctx, o: { every?: string; json?: boolean }, nameOrFile: string) => {
        const every = o.every ? parseEvery('--every', o.every) : undefined;
        const def = await loadSync(nameOrFile);
        const db = await ctx.db();
        await repeatEvery(every, async () => {
          const r = await pullCrm({ db, def, env: ctx.config.env });
          if (ctx.out.json) return ctx.out.result({ sync: def.name, destination: def.destination, ...r });
          ctx.out.line(
            `${def.destination} → Sluice (${def.name}): ${r.read} records read, ${r.created} created, ${r.merged} merged into existing ones, ${r.linked} linked, ${r.skipped} already Sluice's, ${r.rejected.length} rejected; ${r.requests} requests`,
          );
          const p = r.parents;
          if (p)
            ctx.out.line(
              `  ${def.parent?.object ?? 'parents'}: ${p.read} read, ${p.created} created, ${p.merged} merged, ${p.linked} linked, ${p.skipped} already Sluice's, ${p.rejected.length} rejected`,
            );
          // how each mapped field came back: said per field, never skipped silently
          for (const f of [...(p?.fields ?? []), ...r.fields]) {
            if (f.kind === 'none') ctx.out.warn(`${f.to}: not read back: ${f.reason}`);
            else if (f.kind === 'constant') continue;
            else
              ctx.out.line(
                `  ${f.to} → ${f.locals.join(', ')}: ${f.read} read${f.mismatched ? `, ${f.mismatched} not in the mapping's form (e.g. ${f.mismatch})` : ''}`,
              );
          }
          for (const x of [...(p?.rejected ?? []), ...r.rejected].slice(0, 10))
            ctx.out.warn(`${x.remoteId}: ${x.error}`);
        });
      }),
    );
}
