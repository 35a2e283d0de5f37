import { pullCrm } from '../sync/crm-pull.ts';
import { builtinSyncs, loadSync } from '../sync/load-sync.ts';
import { pollSync } from '../sync/poll-sync.ts';
import type { ScheduleServices } from './schedule-actions.ts';

interface SyncOutcome {
  sync: string;
  destination?: string;
  poll?: { records: number; applied: number; conflict: number };
  pull?: { read: number; created: number; merged: number; linked: number };
  requests: number;
  error?: string;
}

/** The built-in syncs that have sent something (`sync_records`): the ones a CRM can change. */
async function syncsInUse(services: ScheduleServices): Promise<string[]> {
  const r = await services.db.query<{ sync_name: string }>('SELECT DISTINCT sync_name FROM sync_records');
  const builtin = new Set(await builtinSyncs());
  return r.rows
    .map((x) => x.sync_name)
    .filter((n) => builtin.has(n))
    .sort();
}

/**
 * The `crm-pull` schedule: per sync, the reconciliation poll (CRM edits come back through the
 * per-field rules) and, unless `pull: false`, `crm pull` (records created in the CRM are imported and
 * linked). One sync failing (its CRM unreachable, its key missing) does not stop the others; the
 * firing fails when any did, naming them.
 */
export async function runCrmPull(
  services: ScheduleServices,
  args: { syncs?: string[] | undefined; pull: boolean },
): Promise<Record<string, unknown>> {
  const names = args.syncs ?? (await syncsInUse(services));
  const outcomes: SyncOutcome[] = [];
  for (const name of names) {
    const stats = { requests: 0, throttled: 0 };
    const out: SyncOutcome = { sync: name, requests: 0 };
    try {
      const def = await loadSync(name);
      out.destination = def.destination;
      const hubspotApp = def.destination === 'hubspot' ? services.env.HUBSPOT_APP_ID : undefined;
      const p = await pollSync({
        db: services.db,
        def,
        env: services.env,
        stats,
        ...(hubspotApp ? { ourSource: `INTEGRATION:${hubspotApp}` } : {}),
      });
      out.poll = { records: p.records, applied: p.applied, conflict: p.conflict };
      if (args.pull) {
        const r = await pullCrm({ db: services.db, def, env: services.env, stats });
        out.pull = { read: r.read, created: r.created, merged: r.merged, linked: r.linked };
      }
    } catch (err) {
      out.error = (err as Error).message;
    }
    out.requests = stats.requests;
    outcomes.push(out);
    services.log?.(
      `crm-pull ${name}: ${out.error ? `failed: ${out.error}` : `${out.poll?.records ?? 0} changed read, ${out.poll?.applied ?? 0} applied${out.pull ? `, ${out.pull.created} created from the CRM` : ''}`}`,
    );
  }
  const failed = outcomes.filter((o) => o.error);
  if (failed.length > 0)
    throw Object.assign(new Error(`crm-pull: ${failed.map((f) => `${f.sync}: ${f.error}`).join('; ')}`), {
      summary: { syncs: outcomes },
    });
  return { syncs: outcomes };
}
