import type { DestinationSession } from '../crm/define-destination.ts';
import type { Db, Queryable } from '../db/db.ts';
import { applyRemoteRecord, emptyInbound, type InboundCounts } from './apply-remote.ts';
import type { SyncDefinition } from './compile-sync.ts';
import { type ConnectOptions, connectDestination } from './connect.ts';

/**
 * The reconciliation poll (`sluice sync poll`): webhooks are hints and get lost (ClickUp drops an
 * event for good after 5 retries), so every record the CRM changed after the stored watermark is read
 * and put through the same rules as a webhook. The watermark is the newest `updatedAt` processed,
 * never "now" (a change made while we polled is not skipped); it moves when a window is read to its
 * end, so a poll cut short reads that window again (the inbound log makes that harmless), and a window
 * that hit the CRM's search cap (HubSpot: 10,000 results) is followed by one starting from the new
 * watermark. Throttles are waited out by the client and never move the watermark.
 */
export interface PollReport extends InboundCounts {
  records: number;
  watermark: Date | null;
  requests: number;
}

const SEARCH_CAP = 10_000;

export async function readWatermark(db: Queryable, syncName: string): Promise<Date | null> {
  const r = await db.query<{ watermark: Date }>(
    'SELECT watermark FROM sync_watermarks WHERE sync_name = $1',
    [syncName],
  );
  return r.rows[0] ? new Date(r.rows[0].watermark) : null;
}

async function saveWatermark(db: Queryable, syncName: string, at: Date): Promise<void> {
  await db.query(
    `INSERT INTO sync_watermarks (sync_name, watermark) VALUES ($1, $2)
     ON CONFLICT (sync_name) DO UPDATE SET watermark = greatest(sync_watermarks.watermark, excluded.watermark), polled_at = now()`,
    [syncName, at.toISOString()],
  );
}

export async function pollSync(
  options: ConnectOptions & { db: Db; def: SyncDefinition; session?: DestinationSession; ourSource?: string },
): Promise<PollReport> {
  const { db, def } = options;
  const stats = options.stats ?? { requests: 0, throttled: 0 };
  const report: PollReport = { ...emptyInbound(), records: 0, watermark: null, requests: 0 };
  // first poll: from the first record this sync wrote (nothing older can be ours)
  let since: Date;
  const stored = await readWatermark(db, def.name);
  if (stored) since = stored;
  else {
    const r = await db.query<{ t: Date | null }>(
      "SELECT min(synced_at) - interval '1 minute' AS t FROM sync_records WHERE sync_name = $1",
      [def.name],
    );
    if (!r.rows[0]?.t) return report; // nothing synced yet: nothing can have come back
    since = new Date(r.rows[0].t);
  }
  report.watermark = since;
  const session = options.session ?? (await connectDestination(def, { ...options, stats }));
  for (let windows = 0; windows < 1_000; windows++) {
    let cursor: string | undefined;
    let newest: Date = since;
    let seen = 0;
    do {
      const page = await session.changes(since, cursor);
      for (const rec of page.records) {
        seen++;
        const c = await applyRemoteRecord(db, def, rec, {
          eventKey: `poll:${rec.remoteId}:${rec.updatedAt.getTime()}`,
          ...(options.ourSource ? { ourSource: options.ourSource } : {}),
        });
        for (const k of ['applied', 'echo', 'kept', 'conflict', 'same'] as const) report[k] += c[k];
        if (rec.updatedAt > newest) newest = rec.updatedAt;
      }
      report.records += page.records.length;
      cursor = page.next;
      // pages come oldest first within a window: the watermark may move after each one
      if (newest > since && !cursor) await saveWatermark(db, def.name, newest);
    } while (cursor);
    report.watermark = newest;
    // a window stops at the CRM's search cap: when it was reached, start the next one from here
    if (seen < SEARCH_CAP || newest.getTime() <= since.getTime()) break;
    since = newest;
  }
  report.requests = stats.requests;
  return report;
}
