import { RetryableError, ThrottledError } from '../errors.ts';
import type { CompiledTrack, SequenceDefinition } from './compile-sequence.ts';
import type { CampaignLead } from './email-provider.ts';
import type { OutreachServices } from './outreach-services.ts';
import {
  ensureSequenceRow,
  loadScopes,
  sequenceRow,
  stoppedContacts,
  suppressedEmails,
} from './outreach-store.ts';
import { inAudience, renderMessage, type Scope, trackFor } from './render-message.ts';

/**
 * Starts a sequence for contacts (`sluice outreach start`, a trigger rule, the funnel): each contact
 * the audience admits, with an email, not suppressed, not already stopped by a reply or bounce and not
 * already in this sequence, gets an enrollment on its track. SendGrid enrollments are due at once (the
 * send window and caps are applied when steps run); Instantly ones become leads of the track's campaign,
 * every step pre-rendered into custom variables, and the campaign (a draft until then) is activated.
 */
export interface StartResult {
  sequence: string;
  started: number;
  /** reason → contacts */
  skipped: Record<string, number>;
  /** Instantly: leads added / already there. */
  leads?: { added: number; skipped: number; pending: number };
}

export async function startSequenceFor(
  services: OutreachServices,
  contactIds: number[],
  sequenceName: string,
  now: Date = new Date(),
): Promise<StartResult> {
  const def = await services.loadSequence(sequenceName);
  const { db } = services;
  const secret = await services.secret();
  const row = await ensureSequenceRow(db, def.name, def.channel);
  const scopes = await loadScopes(db, contactIds);
  const emails = [...scopes.values()].map((s) => String(s.contact?.email ?? '')).filter(Boolean);
  const suppressed = await suppressedEmails(db, emails);
  const stopped = await stoppedContacts(db, contactIds);
  const skipped: Record<string, number> = {};
  const skip = (why: string) => {
    skipped[why] = (skipped[why] ?? 0) + 1;
  };
  let started = 0;
  for (const id of contactIds) {
    const scope = scopes.get(id);
    const email = typeof scope?.contact?.email === 'string' ? scope.contact.email.toLowerCase() : '';
    if (!scope) skip('no such contact');
    else if (!email) skip('no email');
    else if (scope.contact?.status === 'inactive') skip('inactive');
    else if (suppressed.has(email)) skip('suppressed');
    else if (stopped.has(id)) skip(`outreach stopped (${stopped.get(id)})`);
    else if (!inAudience(def, scope)) skip('not in the audience');
    else {
      const track = trackFor(def, scope);
      if (!track) {
        skip('no track for this contact');
        continue;
      }
      const msg = renderMessage(def, scope, 0, { secret, track: track.name });
      if (!msg || msg.missing.length > 0) {
        skip('a template field is empty and has no fallback');
        continue;
      }
      const r = await db.query(
        `INSERT INTO outreach_enrollments (contact_id, sequence, channel, segment, sender, next_due_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (contact_id, sequence) DO NOTHING`,
        [id, def.name, def.channel, track.name, track.sender.email, now],
      );
      if (r.rowCount === 0) skip('already in this sequence');
      else started++;
    }
  }
  const result: StartResult = { sequence: def.name, started, skipped };
  if (def.channel === 'instantly' && !row.paused) result.leads = await pushInstantlyLeads(services, def);
  return result;
}

/** A process creating a campaign marks the track `creating:<epoch ms>`; a marker this old is taken over. */
const CREATE_CLAIM_MS = 5 * 60_000;

/**
 * The campaign of each track, created as a draft the first time. One creator at a time: the track is
 * claimed in the row first (no transaction is held across the HTTP call), so two processes never make
 * two campaigns; a creator that died leaves a claim that is taken over after 5 minutes (its draft, if
 * Instantly made one, stays a draft and never sends).
 */
async function campaignsOf(
  services: OutreachServices,
  def: SequenceDefinition,
): Promise<Record<string, string>> {
  const session = services.session('instantly');
  const { db } = services;
  for (const t of def.tracks.values()) {
    const now = Date.now();
    const claim = await db.query(
      `UPDATE outreach_sequences SET campaigns = campaigns || jsonb_build_object($2::text, $3::text), updated_at = now()
        WHERE name = $1 AND (NOT campaigns ? $2
              OR (campaigns->>$2 LIKE 'creating:%' AND substr(campaigns->>$2, 10)::bigint < $4))`,
      [def.name, t.name, `creating:${now}`, now - CREATE_CLAIM_MS],
    );
    if (claim.rowCount === 0) continue;
    const id = await session.createCampaign!({
      name: `${def.name} · ${t.name}`,
      steps: t.steps.map((s, i) => ({
        subject: `{{sluice_subject_${i + 1}}}`,
        body: `{{sluice_body_${i + 1}}}`,
        delayDays: s.delayDays,
      })),
      window: {
        from: hhmm(def.window.from),
        to: hhmm(def.window.to),
        days: def.window.days,
        timezone: def.window.defaultTimezone,
      },
      senders: [t.sender.email],
      dailyLimit: t.sender.dailyCap,
    });
    await db.query(
      `UPDATE outreach_sequences SET campaigns = campaigns || jsonb_build_object($2::text, $3::text), updated_at = now() WHERE name = $1`,
      [def.name, t.name, id],
    );
  }
  const campaigns = (await sequenceRow(db, def.name))?.campaigns ?? {};
  return Object.fromEntries(Object.entries(campaigns).filter(([, v]) => !v.startsWith('creating:')));
}

const hhmm = (m: number) =>
  `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

function leadOf(
  def: SequenceDefinition,
  track: CompiledTrack,
  scope: Scope,
  secret: string,
): CampaignLead | undefined {
  const vars: CampaignLead['custom_variables'] = {};
  for (let i = 0; i < track.steps.length; i++) {
    const m = renderMessage(def, scope, i, { secret, track: track.name });
    if (!m || m.missing.length > 0) return undefined;
    vars[`sluice_subject_${i + 1}`] = m.subject;
    vars[`sluice_body_${i + 1}`] = m.body;
    if (i === 0) vars.sluice_unsubscribe_url = m.unsubscribeUrl;
  }
  vars.sluice_contact_id = Number(scope.contact!.id);
  const c = scope.contact!;
  return {
    email: String(c.email).toLowerCase(),
    ...(typeof c.first_name === 'string' ? { first_name: c.first_name } : {}),
    ...(typeof c.last_name === 'string' ? { last_name: c.last_name } : {}),
    ...(typeof scope.account?.name === 'string' ? { company_name: scope.account.name } : {}),
    custom_variables: vars,
  };
}

/**
 * Adds the sequence's enrollments that have no Instantly lead yet, per track, then activates the
 * campaigns. Repeating it is harmless (skip_if_in_campaign / skip_if_in_workspace): after a lost answer
 * the next call finds the leads already there. A throttle or outage leaves them pending for the next run.
 */
export async function pushInstantlyLeads(
  services: OutreachServices,
  def: SequenceDefinition,
): Promise<{ added: number; skipped: number; pending: number }> {
  const { db } = services;
  const pendingRows = await db.query<{ id: string; contact_id: string; segment: string }>(
    `SELECT id, contact_id, segment FROM outreach_enrollments
      WHERE sequence = $1 AND state = 'active' AND remote_lead_id IS NULL ORDER BY id LIMIT 5000`,
    [def.name],
  );
  if (pendingRows.rows.length === 0) return { added: 0, skipped: 0, pending: 0 };
  const session = services.session('instantly');
  const secret = await services.secret();
  const campaigns = await campaignsOf(services, def);
  const scopes = await loadScopes(
    db,
    pendingRows.rows.map((r) => Number(r.contact_id)),
  );
  let added = 0;
  let skippedLeads = 0;
  let pending = 0;
  for (const track of def.tracks.values()) {
    const rows = pendingRows.rows.filter((r) => r.segment === track.name);
    if (rows.length === 0) continue;
    // another process is creating this track's campaign: its leads go on the next run
    if (!campaigns[track.name]) {
      pending += rows.length;
      continue;
    }
    const leads: { enrollment: number; lead: CampaignLead }[] = [];
    for (const r of rows) {
      const scope = scopes.get(Number(r.contact_id));
      const lead = scope ? leadOf(def, track, scope, secret) : undefined;
      if (lead) leads.push({ enrollment: Number(r.id), lead });
      else
        await db.query(
          `UPDATE outreach_enrollments SET state = 'stopped', stop_reason = 'a template field is empty', updated_at = now() WHERE id = $1`,
          [r.id],
        );
    }
    try {
      const res = await session.addLeads!(
        campaigns[track.name]!,
        leads.map((l) => l.lead),
      );
      for (const l of leads) {
        const leadId = res.created.get(l.lead.email);
        // skipped = already in the campaign or workspace (an earlier add whose answer was lost, or
        // another tool's lead): never added twice; marked so it is not retried forever
        await db.query(
          'UPDATE outreach_enrollments SET remote_lead_id = $2, updated_at = now() WHERE id = $1',
          [l.enrollment, leadId ?? 'existing'],
        );
      }
      added += res.created.size;
      skippedLeads += res.skipped;
    } catch (err) {
      if (err instanceof RetryableError || err instanceof ThrottledError) {
        pending += leads.length;
        services.log(
          `instantly: leads for ${def.name}/${track.name} wait for the next run: ${(err as Error).message}`,
        );
        continue;
      }
      throw err;
    }
    await session.activateCampaign!(campaigns[track.name]!);
  }
  return { added, skipped: skippedLeads, pending };
}
