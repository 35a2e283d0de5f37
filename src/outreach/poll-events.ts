import { ConfigError } from '../errors.ts';
import { ingestEmailEvent } from './ingest-event.ts';
import type { OutreachServices } from './outreach-services.ts';

/**
 * The reconciliation poll behind the webhooks (webhooks get lost, and Instantly's switch themselves
 * off after repeated failures): events after the watermark go through the same `ingestEmailEvent`,
 * deduplicated against what the webhooks already brought. Only tools with a pollable feed have
 * `pollEvents`: Instantly's received emails (`GET /emails`, 20 requests a minute: replies and
 * auto-replies) and its lead statuses per campaign Sluice made (`POST /leads/list`, bounced and
 * unsubscribed).
 *
 * The watermark (`outreach_poll_state`) is the newest provider timestamp the poll itself processed,
 * never "now" (MinnPost #137) and never moved by webhooks (a webhook arriving must not hide an older
 * event the poll has not seen); each poll reads from it less an hour of overlap. Before the first poll:
 * the newest stored reply less the overlap, else 30 days back. `since` overrides it.
 */
export interface PollResult {
  channel: string;
  since: Date;
  events: number;
  duplicates: number;
  stops: number;
  /** The watermark after this poll. */
  watermark: Date;
}

const OVERLAP_MS = 60 * 60_000;

export async function pollEmailEvents(
  services: OutreachServices,
  channel: string,
  since?: Date,
): Promise<PollResult> {
  const session = services.session(channel);
  if (!session.pollEvents)
    throw new ConfigError(`${channel} has no event feed to poll: its events arrive by webhook only`, {
      exitCode: 2,
    });
  const { db } = services;
  const stored = await db.query<{ watermark: Date }>(
    'SELECT watermark FROM outreach_poll_state WHERE provider = $1',
    [channel],
  );
  const mark = stored.rows[0] ? new Date(stored.rows[0].watermark) : undefined;
  let from = since ?? (mark ? new Date(mark.getTime() - OVERLAP_MS) : undefined);
  if (!from) {
    const r = await db.query<{ at: Date | null }>(
      `SELECT max(occurred_at) AS at FROM outreach_events WHERE provider = $1 AND kind IN ('reply', 'auto_reply')`,
      [channel],
    );
    const at = r.rows[0]?.at;
    from = at ? new Date(new Date(at).getTime() - OVERLAP_MS) : new Date(Date.now() - 30 * 86_400_000);
  }
  const campaigns = await db.query<{ id: string }>(
    `SELECT DISTINCT c.value AS id FROM outreach_sequences s, jsonb_each_text(s.campaigns) c
      WHERE s.channel = $1 AND c.value NOT LIKE 'creating:%' ORDER BY 1`,
    [channel],
  );
  const events = await session.pollEvents(from, { campaignIds: campaigns.rows.map((r) => r.id) });
  let newest = mark;
  const out: PollResult = {
    channel,
    since: from,
    events: events.length,
    duplicates: 0,
    stops: 0,
    watermark: from,
  };
  for (const e of events) {
    const r = await ingestEmailEvent(services, e);
    if (r.duplicate) out.duplicates++;
    else if (r.stopped) out.stops++;
    if (!newest || e.occurredAt > newest) newest = e.occurredAt;
  }
  // only after every event was ingested: a failure above leaves the watermark where it was
  if (newest) {
    await db.query(
      `INSERT INTO outreach_poll_state (provider, watermark) VALUES ($1, $2)
       ON CONFLICT (provider) DO UPDATE SET watermark = greatest(outreach_poll_state.watermark, EXCLUDED.watermark), polled_at = now()`,
      [channel, newest],
    );
    out.watermark = newest;
  }
  return out;
}
