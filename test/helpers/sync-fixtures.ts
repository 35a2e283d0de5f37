import type { Hono } from 'hono';
import type { Db, Queryable } from '../../src/db/db.ts';
import { type FieldObservation, writeFieldValues } from '../../src/records/field-values.ts';
import { listen, type RunningServer } from '../../src/sandbox/fakes/fake-kit.ts';

/** Empties the record and sync tables (tests of the sync share one database per describe). */
export async function emptySyncDb(db: Queryable): Promise<void> {
  await db.exec(
    'TRUNCATE accounts, contacts, field_values, imports, sync_records, sync_outbox, sync_runs, sync_watermarks, sync_inbound, sync_conflicts, rate_limits RESTART IDENTITY CASCADE',
  );
}

const SEGMENTS = ['high-end', 'budget', 'both'] as const;

/**
 * Enriched golf courses as the golf-courses pipeline leaves them: segment and confidence, scored
 * opportunities and conversation starters on the account; name, title, email, phone on each contact.
 */
export async function seedGolf(
  db: Db,
  courses: number,
  perCourse = 2,
): Promise<{ accounts: number[]; contacts: number[] }> {
  return db.transaction(async (tx) => {
    const acc = await tx.query<{ id: string }>(
      `INSERT INTO accounts (name) SELECT 'Course ' || g FROM generate_series(1, $1::int) g RETURNING id`,
      [courses],
    );
    const accounts = acc.rows.map((r) => Number(r.id));
    const obs: FieldObservation[] = [];
    const contacts: number[] = [];
    for (const [i, id] of accounts.entries()) {
      const set = (field: string, value: unknown) =>
        obs.push({ entityType: 'account', entityId: id, field, value, source: 'step', runId: 1 });
      set('name', i === 0 ? 'Richmond Country Club' : `Course ${i + 1} Golf Club`);
      set('domain', `course${i + 1}.example`);
      set('segment', SEGMENTS[i % 3]);
      set('segment_confidence', 8);
      set('opportunity_range_ball_buy', 8);
      set('opportunity_range_ball_lease', 9);
      set('opportunity_range_equipment', 5);
      set('opportunity_ball_dispenser', 3);
      set('conversation_starters', [
        { text: 'Many premium clubs are exploring leases...', score: 8 },
        { text: `I noticed ${i === 0 ? 'Richmond Country Club' : 'your club'}...`, score: 9 },
        { text: 'How is the range holding up?', score: 5 },
      ]);
      const c = await tx.query<{ id: string }>(
        `INSERT INTO contacts (account_id) SELECT $1 FROM generate_series(1, $2::int) RETURNING id`,
        [id, perCourse],
      );
      for (const [j, row] of c.rows.entries()) {
        const cid = Number(row.id);
        contacts.push(cid);
        const first = i === 0 && j === 0 ? 'Stacy' : `First${cid}`;
        const last = i === 0 && j === 0 ? 'Foster' : `Last${cid}`;
        const put = (field: string, value: unknown) =>
          obs.push({ entityType: 'contact', entityId: cid, field, value, source: 'step', runId: 1 });
        put('first_name', first);
        put('last_name', last);
        put('full_name', `${first} ${last}`);
        put('title', j === 0 ? 'General Manager' : 'Head Pro');
        put('email', `${first.toLowerCase()}.${last.toLowerCase()}@course${i + 1}.example`);
        put('phone', `+1804555${String(1000 + cid).slice(-4)}`);
      }
    }
    await writeFieldValues(tx, obs);
    return { accounts, contacts };
  });
}

/** Serves a fake's Hono app on 127.0.0.1:0 for the test. */
export async function serveFake(app: Hono): Promise<RunningServer> {
  return listen(app, 0);
}
