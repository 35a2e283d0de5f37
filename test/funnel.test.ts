import { expect, it } from 'vitest';
import { runDemo } from '../src/demo/run-demo.ts';
import { bossSchemaFor } from '../src/queue/pg-boss-driver.ts';
import { createClickUpFake } from '../src/sandbox/fakes/crm/clickup.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';

/**
 * The seed's funnel end to end in the sandbox (Done-when of issue 12): enriched → ClickUp → reps move
 * tasks to "Contacted" → the segment sequence starts → replies stop it and move the task → a month
 * later job changes are caught, the old tasks archived and the replacements land in ClickUp.
 */
describeEachBackend('funnel: enrich → ClickUp → Contacted → sequence → reply → a month later', (backend) => {
  it('runs through the real layers against the sandbox', async () => {
    const db = await openTestDb(backend);
    try {
      const report = await runDemo({
        db,
        env: {},
        records: 30,
        latencyScale: 0,
        outreach: true,
        monthLater: true,
      });
      expect(report.accounts_enriched).toBe(30);
      const q = async (sql: string) => Number((await db.query<{ n: number }>(sql)).rows[0]!.n);
      // ClickUp: a task per active contact of a segmented course
      expect(
        await q(`SELECT count(*)::int AS n FROM sync_records WHERE sync_name = 'golf-courses-clickup'`),
      ).toBeGreaterThan(20);
      // Contacted → sequences started; replies stopped some of them
      expect(await q('SELECT count(*)::int AS n FROM outreach_enrollments')).toBeGreaterThan(0);
      expect(
        await q(`SELECT count(*)::int AS n FROM outreach_enrollments WHERE state = 'stopped'`),
      ).toBeGreaterThan(0);
      // a month later
      const m = report.month_later!;
      expect(m.changed + m.bounced).toBeGreaterThan(0);
      expect(m.caught).toBeGreaterThan(0);
      expect(m.clickup.archived).toBe(m.changed + m.bounced);
      expect(m.clickup.created).toBeGreaterThan(0);
      // the sandbox ClickUp as the demo left it: replied tasks, archived leavers, new replacement tasks
      const fake = createClickUpFake();
      fake.restoreState(
        (await db.query<{ state: unknown }>(`SELECT state FROM sandbox_crm_state WHERE name = 'clickup'`))
          .rows[0]!.state,
      );
      const tasks = [...fake.tasks.values()];
      expect(tasks.some((t) => /replied/i.test(t.status))).toBe(true);
      expect(tasks.filter((t) => t.archived)).toHaveLength(m.clickup.archived);
      const replacements = await db.query<{ full_name: string }>(
        `SELECT n.full_name FROM freshness_checks k JOIN contacts n ON n.id = k.replacement_contact_id`,
      );
      expect(replacements.rows.length).toBeGreaterThan(0);
      for (const r of replacements.rows)
        expect(tasks.filter((t) => t.name.startsWith(`${r.full_name} - `) && !t.archived)).toHaveLength(1);
    } finally {
      if (backend === 'postgres')
        await db.exec(`DROP SCHEMA IF EXISTS "${bossSchemaFor(db.schema)}" CASCADE`);
      await db.close();
    }
  }, 300_000);
});
