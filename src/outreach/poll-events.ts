import { ConfigError } from '../errors.ts';
import { ingestEmailEvent } from './ingest-event.ts';
import type { OutreachServices } from './outreach-services.ts';

/**
 * The reconciliation poll behind the webhooks (webhooks get lost, and Instantly's switch themselves
 * off after repeated failures): events after the watermark go through the same `ingestEmailEvent`,
 * deduplicated against what the webhooks already brought. The watermark is the newest event of that
 * tool already stored, less an hour of overlap (never "now": MinnPost #137), unless `since` is given.
 * Only tools with a pollable feed have `pollEvents` (Instantly `GET /emails`, 20 requests a minute).
 */
export interface PollResult {
  channel: string;
  since: Date;
  events: number;
  duplicates: number;
  stops: number;
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
  let from = since;
  if (!from) {
    const r = await services.db.query<{ at: Date | null }>(
      `SELECT max(occurred_at) AS at FROM outreach_events WHERE provider = $1 AND kind IN ('reply', 'auto_reply')`,
      [channel],
    );
    const at = r.rows[0]?.at;
    from = at ? new Date(new Date(at).getTime() - OVERLAP_MS) : new Date(Date.now() - 30 * 86_400_000);
  }
  const events = await session.pollEvents(from);
  const out: PollResult = { channel, since: from, events: events.length, duplicates: 0, stops: 0 };
  for (const e of events) {
    const r = await ingestEmailEvent(services, e);
    if (r.duplicate) out.duplicates++;
    else if (r.stopped) out.stops++;
  }
  return out;
}
