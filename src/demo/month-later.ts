import type { Db } from '../db/db.ts';
import type { RunEngine } from '../engine/run-executor.ts';
import { passChanges } from '../freshness/freshness-report.ts';
import { runFreshness } from '../freshness/run-freshness.ts';
import { createClickUpFake } from '../sandbox/fakes/crm/clickup.ts';
import { listen } from '../sandbox/fakes/fake-kit.ts';
import { advanceMonth } from '../sandbox/month-advance.ts';
import type { World } from '../sandbox/world.ts';
import { DEMO_SYNC } from '../sync/demo-sync.ts';

/** Contacts the demo's "one month later" pass checks (the verifier allows 300/min: ~15 s). */
export const MONTH_LATER_CONTACTS = 150;
const DAY = 86_400_000;

export interface MonthLaterReport {
  /** People who changed jobs in the simulated month (ground truth, among the checked contacts). */
  world_job_changes: number;
  checked: number;
  verified: number;
  changed: number;
  bounced: number;
  unknown: number;
  replaced: number;
  new_contacts: number;
  cost_usd: number;
  /** How many of the world's job changes among the checked contacts the pass caught (changed or bounced). */
  caught: number;
  clickup: { archived: number; created: number };
  examples: string[];
}

/**
 * `sluice demo --month-later`: the sandbox world moves on a month (some staff leave for other clubs
 * and are replaced; docs/freshness.md) and a freshness pass runs as the monthly schedule would, 31
 * days after the demo: stale contacts re-checked, the ones who left marked inactive with the
 * evidence, the replacements found on the staff pages, enriched, and sent to the sandbox ClickUp
 * (the old task archived, a new one created). Scored against the world's own list of job changes.
 */
export async function demoMonthLater(o: {
  db: Db;
  engine: RunEngine;
  world: World;
  env: Readonly<Record<string, string | undefined>>;
  limit?: number;
  onStatus?: (line: string) => void;
}): Promise<MonthLaterReport> {
  const status = o.onStatus ?? (() => {});
  const { db } = o;
  const changes = advanceMonth(o.world);
  status(`one month later: ${changes.length} people in the sandbox world changed jobs (simulated)`);
  const fake = createClickUpFake({ perMinute: 6_000 });
  const saved = await db.query<{ state: unknown }>(
    "SELECT state FROM sandbox_crm_state WHERE name = 'clickup'",
  );
  if (saved.rows[0]) fake.restoreState(saved.rows[0].state);
  const server = await listen(fake.app, 0);
  try {
    const env = {
      ...o.env,
      CLICKUP_API_KEY: fake.apiKey,
      SLUICE_CLICKUP_BASE_URL: server.url,
      SLUICE_CLICKUP_RATE_LIMIT: '6000/min',
    };
    const r = await runFreshness({
      db,
      engine: o.engine,
      env,
      now: new Date(Date.now() + 31 * DAY),
      limit: o.limit ?? MONTH_LATER_CONTACTS,
      syncs: [DEMO_SYNC],
      onStatus: status,
    });
    await db.query(
      `INSERT INTO sandbox_crm_state (name, state) VALUES ('clickup', $1::jsonb)
       ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = now()`,
      [JSON.stringify(fake.saveState())],
    );
    const checked = await db.query<{ email: string | null; full_name: string | null; name: string | null }>(
      `SELECT c.email, c.full_name, a.name FROM freshness_checks k JOIN contacts c ON c.id = k.contact_id
         LEFT JOIN accounts a ON a.id = k.account_id WHERE k.pass_id = $1`,
      [r.passId],
    );
    const movers = new Set(changes.map((c) => `${c.person.fullName}|${c.from.name}`));
    const checkedMovers = checked.rows.filter((x) => movers.has(`${x.full_name}|${x.name}`)).length;
    const details = await passChanges(db, r.passId);
    const caught = details.filter(
      (d) => d.outcome !== 'failed' && movers.has(`${d.name}|${d.account}`),
    ).length;
    const examples = details
      .filter((d) => d.outcome === 'changed' && d.replacement)
      .slice(0, 3)
      .map((d) => {
        const e = d.evidence.employment as { organization?: string } | undefined;
        return `${d.name} left ${d.account} for ${e?.organization ?? '?'}; ${d.replacement!.name} now in the role`;
      });
    const clickup = r.synced.find((s) => s.sync === DEMO_SYNC) ?? { archived: 0, created: 0 };
    status(
      `freshness (one month later): ${r.selected} checked, ${r.verified} verified, ${r.changed} job changes, ${r.bounced} bounced, ${r.replaced} replacements (${r.newContacts} new contacts); ClickUp: ${clickup.archived} tasks archived, ${clickup.created} created`,
    );
    for (const e of examples) status(`  ${e}`);
    return {
      world_job_changes: checkedMovers,
      checked: r.selected,
      verified: r.verified,
      changed: r.changed,
      bounced: r.bounced,
      unknown: r.unknown,
      replaced: r.replaced,
      new_contacts: r.newContacts,
      cost_usd: r.costUsd,
      caught,
      clickup: { archived: clickup.archived, created: clickup.created },
      examples,
    };
  } finally {
    await server.close();
  }
}
