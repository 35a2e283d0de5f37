import type { Db } from '../db/db.ts';
import { connectDestination } from '../sync/connect.ts';
import { loadSync } from '../sync/load-sync.ts';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * "Update the CRM" on a reply: the contact's record in the sync's destination (found through the
 * sync's remote-id map, never by searching) gets the sequence's reply status and a comment with the
 * reply, through the destination's `annotate` (src/crm: ClickUp task status + comment, HubSpot
 * note + lead status, GoHighLevel note + tag or stage field). Returns what happened, for `outreach_contact_state.crm_result`.
 */
export async function updateCrmOnReply(
  db: Db,
  env: Env,
  o: { sync: string; status: string; contactId: number; comment: string },
): Promise<string> {
  const def = await loadSync(o.sync);
  const r = await db.query<{ remote_id: string | null }>(
    `SELECT remote_id FROM sync_records WHERE sync_name = $1 AND entity_type = 'contact' AND entity_id = $2`,
    [def.name, o.contactId],
  );
  const remoteId = r.rows[0]?.remote_id;
  if (!remoteId) return `not in ${def.destination} (${def.name} never created it)`;
  const session = await connectDestination(def, { db, env });
  if (!session.annotate) return `${def.destination} has no status/comment update`;
  // where the sync keeps the rep's stage (ClickUp `status`, HubSpot `hs_lead_status`, a GHL field)
  const statusField = def.fields.find((f) => f.local?.entity === 'contact' && f.local.field === 'stage')?.to;
  await session.annotate(remoteId, {
    status: o.status,
    comment: o.comment,
    ...(statusField ? { statusField } : {}),
  });
  return `${def.destination} ${remoteId}: status "${o.status}"${statusField ? ` in ${statusField}` : ''}, comment added`;
}
