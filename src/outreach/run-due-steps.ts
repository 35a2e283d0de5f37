import { CriticalError, RetryableError, SluiceError, ThrottledError } from '../errors.ts';
import type { SequenceDefinition } from './compile-sequence.ts';
import type { OutreachServices } from './outreach-services.ts';
import { loadScopes, stoppedContacts, suppressedEmails } from './outreach-store.ts';
import { renderMessage } from './render-message.ts';
import { contactTimeZone, inWindow, localTime, nextInWindow, nextLocalMidnight } from './send-window.ts';
import { pushInstantlyLeads } from './start-sequence.ts';

/**
 * The `sequence-steps` job (docs/outreach.md): sends every step that is due, through the outbox.
 *
 * 1. Reconcile: a send whose answer was lost (`unknown`), or left `pending` by a process that died
 *    (its claim lapsed), is looked up first (SendGrid's activity feed by `custom_args`, or an event that
 *    carried its send id). Found: settled as sent. Not found, and the tool can say so: sent again under
 *    the same key. The tool cannot tell yet: it stays unknown. Never blindly resent.
 * 2. Instantly enrollments without a lead yet are added (skip flags make a repeat harmless).
 * 3. Due SendGrid enrollments are claimed (SKIP LOCKED + lease: several workers share them); for each,
 *    in order: stopped or suppressed contacts end; outside the contact's send window → moved to the
 *    window's next opening; the sender's daily cap reached → the next day's window; else the outbox row
 *    is written (its cap counted under an advisory lock per sender and day, so caps hold across
 *    processes) and the message sent.
 */
export interface StepRunResult {
  sent: number;
  deferredWindow: number;
  deferredCap: number;
  stopped: number;
  failed: number;
  unknown: number;
  reconciled: { sent: number; resent: number; unknown: number };
  instantlyLeads: number;
}

/** How long a process holds a claimed enrollment or send. */
const CLAIM_SECONDS = 120;

export interface RunStepOptions {
  /** Enrollments claimed per call. Default 200. */
  limit?: number;
  /** Messages in flight at once. Default 4. */
  concurrency?: number;
  /** Called after each message is sent (tests, progress). */
  onSent?: (sendKey: string) => void | Promise<void>;
}

export async function runDueSequenceSteps(
  services: OutreachServices,
  now: Date = new Date(),
  options: RunStepOptions = {},
): Promise<StepRunResult> {
  const out: StepRunResult = {
    sent: 0,
    deferredWindow: 0,
    deferredCap: 0,
    stopped: 0,
    failed: 0,
    unknown: 0,
    reconciled: { sent: 0, resent: 0, unknown: 0 },
    instantlyLeads: 0,
  };
  await reconcile(services, now, out, options);
  const { db } = services;
  const instantlySeqs = await db.query<{ sequence: string }>(
    `SELECT DISTINCT e.sequence FROM outreach_enrollments e JOIN outreach_sequences s ON s.name = e.sequence
      WHERE e.channel = 'instantly' AND e.state = 'active' AND e.remote_lead_id IS NULL AND NOT s.paused`,
  );
  for (const r of instantlySeqs.rows) {
    const def = await services.loadSequence(r.sequence);
    out.instantlyLeads += (await pushInstantlyLeads(services, def)).added;
  }
  const claimed = await db.query<{
    id: string;
    contact_id: string;
    sequence: string;
    segment: string;
    sender: string;
    next_step: number;
  }>(
    `WITH due AS (
       SELECT e.id FROM outreach_enrollments e JOIN outreach_sequences s ON s.name = e.sequence
        WHERE e.state = 'active' AND e.channel = 'sendgrid' AND e.next_due_at <= $1 AND NOT s.paused
          AND (e.claimed_until IS NULL OR e.claimed_until < now())
        ORDER BY e.next_due_at, e.id LIMIT $2 FOR UPDATE OF e SKIP LOCKED)
     UPDATE outreach_enrollments e SET claimed_until = now() + make_interval(secs => $3)
       FROM due WHERE e.id = due.id
     RETURNING e.id, e.contact_id, e.sequence, e.segment, e.sender, e.next_step`,
    [now, options.limit ?? 200, CLAIM_SECONDS],
  );
  const rows = claimed.rows;
  if (rows.length === 0) return out;
  const secret = await services.secret();
  const ids = rows.map((r) => Number(r.contact_id));
  const scopes = await loadScopes(db, ids);
  const stopped = await stoppedContacts(db, ids);
  const emails = [...scopes.values()].map((s) => String(s.contact?.email ?? '').toLowerCase());
  const suppressed = await suppressedEmails(db, emails);
  const release = (id: string, set: string, params: unknown[] = []) =>
    db.query(
      `UPDATE outreach_enrollments SET ${set}, claimed_until = NULL, updated_at = now() WHERE id = $1`,
      [id, ...params],
    );
  const work = async (row: (typeof rows)[number]) => {
    const def = await services.loadSequence(row.sequence);
    const scope = scopes.get(Number(row.contact_id));
    const email = String(scope?.contact?.email ?? '').toLowerCase();
    if (!scope || !email || scope.contact?.status === 'inactive') {
      out.stopped++;
      return release(row.id, `state = 'stopped', stop_reason = 'no deliverable contact'`);
    }
    if (stopped.has(Number(row.contact_id)) || suppressed.has(email)) {
      out.stopped++;
      const why = stopped.get(Number(row.contact_id)) ?? 'suppressed';
      return release(row.id, `state = 'stopped', stop_reason = $2`, [why]);
    }
    const open = await db.query(
      `SELECT 1 FROM outreach_sends WHERE enrollment_id = $1 AND state IN ('unknown', 'pending')`,
      [row.id],
    );
    if (open.rowCount > 0) return release(row.id, 'claimed_until = NULL');
    const tz = contactTimeZone(scope.contact, scope.account, def.window.defaultTimezone);
    if (!inWindow(now, tz, def.window)) {
      out.deferredWindow++;
      return release(row.id, 'next_due_at = $2', [nextInWindow(now, tz, def.window)]);
    }
    const track = def.tracks.get(row.segment);
    const msg = track ? renderMessage(def, scope, row.next_step, { secret, track: track.name }) : undefined;
    if (!track || !msg) {
      out.stopped++;
      return release(row.id, `state = 'completed'`);
    }
    if (msg.missing.length > 0) {
      out.stopped++;
      return release(row.id, `state = 'stopped', stop_reason = 'a template field is empty'`);
    }
    const day = localTime(now, def.window.defaultTimezone).date;
    const sendKey = `${def.name}:${row.contact_id}:${row.next_step}`;
    const booked = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `outreach-cap:${track.sender.email}:${day}`,
      ]);
      const used = await tx.query<{ n: string }>(
        `SELECT count(*) AS n FROM outreach_sends WHERE sender = $1 AND send_day = $2 AND state <> 'failed'`,
        [track.sender.email, day],
      );
      if (Number(used.rows[0]!.n) >= track.sender.dailyCap) return false;
      const ins = await tx.query(
        `INSERT INTO outreach_sends (send_key, enrollment_id, contact_id, sequence, step, channel, sender, to_email,
                                     subject, starter, send_day, claimed_until, attempts)
         VALUES ($1, $2, $3, $4, $5, 'sendgrid', $6, $7, $8, $9, $10, now() + make_interval(secs => $11), 1)
         ON CONFLICT (send_key) DO NOTHING`,
        [
          sendKey,
          row.id,
          row.contact_id,
          def.name,
          row.next_step,
          track.sender.email,
          email,
          msg.subject,
          msg.starter,
          day,
          CLAIM_SECONDS,
        ],
      );
      return ins.rowCount > 0 ? true : ('exists' as const);
    });
    if (booked === false) {
      out.deferredCap++;
      // the cap's day is the sequence's (default zone) day: the next one opens at its midnight
      const tomorrow = nextLocalMidnight(now, def.window.defaultTimezone);
      return release(row.id, 'next_due_at = $2', [nextInWindow(tomorrow, tz, def.window)]);
    }
    // the row exists already: a send of this step was attempted before; reconcile owns it
    if (booked === 'exists') return release(row.id, 'claimed_until = NULL');
    await deliver(
      services,
      def,
      {
        sendKey,
        enrollmentId: row.id,
        step: row.next_step,
        to: {
          email,
          ...(typeof scope.contact?.full_name === 'string' ? { name: scope.contact.full_name } : {}),
        },
        msg,
      },
      now,
      out,
      options,
    );
  };
  await pool(rows, options.concurrency ?? 4, work);
  return out;
}

interface Delivery {
  sendKey: string;
  enrollmentId: string;
  step: number;
  to: { email: string; name?: string };
  msg: NonNullable<ReturnType<typeof renderMessage>>;
}

async function deliver(
  services: OutreachServices,
  def: SequenceDefinition,
  d: Delivery,
  now: Date,
  out: StepRunResult,
  options: RunStepOptions,
): Promise<'sent' | 'unknown' | 'failed'> {
  const { db } = services;
  try {
    const { messageId } = await services.session('sendgrid').send!({
      sendKey: d.sendKey,
      to: d.to,
      from: d.msg.sender,
      replyTo: d.msg.sender,
      subject: d.msg.subject,
      text: d.msg.body,
      headers: d.msg.headers,
      categories: [def.name, d.msg.track],
    });
    await settleSent(services, d.sendKey, messageId, now);
    out.sent++;
    await options.onSent?.(d.sendKey);
    return 'sent';
  } catch (err) {
    const refused =
      err instanceof CriticalError || (err instanceof SluiceError && err.errorClass === 'config');
    if (refused && !(err instanceof ThrottledError)) {
      out.failed++;
      await db.transaction(async (tx) => {
        await tx.query(
          `UPDATE outreach_sends SET state = 'failed', error = $2, claimed_until = NULL WHERE send_key = $1`,
          [d.sendKey, (err as Error).message.slice(0, 500)],
        );
        await tx.query(
          `UPDATE outreach_enrollments SET state = 'stopped', stop_reason = $2, claimed_until = NULL, updated_at = now() WHERE id = $1`,
          [d.enrollmentId, `send refused: ${(err as Error).message.slice(0, 200)}`],
        );
      });
      if (err instanceof SluiceError && err.errorClass === 'config') throw err;
      return 'failed';
    }
    if (err instanceof RetryableError || err instanceof ThrottledError) {
      // the request may have reached the tool: never resent before it is looked up
      out.unknown++;
      await db.query(
        `UPDATE outreach_sends SET state = 'unknown', error = $2, claimed_until = NULL WHERE send_key = $1`,
        [d.sendKey, (err as Error).message.slice(0, 500)],
      );
      await db.query('UPDATE outreach_enrollments SET claimed_until = NULL WHERE id = $1', [d.enrollmentId]);
      return 'unknown';
    }
    throw err;
  }
}

/**
 * Marks a send sent and moves its enrollment to the next step (due after the step's delay), or
 * completes it; one transaction, and only once (the send must still be open).
 */
export async function settleSent(
  services: OutreachServices,
  sendKey: string,
  messageId: string | null,
  now: Date,
): Promise<boolean> {
  return services.db.transaction(async (tx) => {
    const r = await tx.query<{ enrollment_id: string; step: number; sequence: string }>(
      `UPDATE outreach_sends SET state = 'sent', provider_message_id = coalesce($2, provider_message_id),
              sent_at = coalesce(sent_at, $3), claimed_until = NULL, error = NULL
        WHERE send_key = $1 AND state IN ('pending', 'unknown')
        RETURNING enrollment_id, step, sequence`,
      [sendKey, messageId, now],
    );
    const s = r.rows[0];
    if (!s?.enrollment_id) return false;
    const def = await services.loadSequence(s.sequence);
    const e = await tx.query<{ segment: string; next_step: number }>(
      'SELECT segment, next_step FROM outreach_enrollments WHERE id = $1 FOR UPDATE',
      [s.enrollment_id],
    );
    const en = e.rows[0];
    if (!en || en.next_step !== s.step) return true;
    const next = def.tracks.get(en.segment)?.steps[s.step + 1];
    await tx.query(
      `UPDATE outreach_enrollments SET next_step = next_step + 1, claimed_until = NULL, updated_at = now(),
              state = CASE WHEN $2::timestamptz IS NULL AND state = 'active' THEN 'completed' ELSE state END,
              next_due_at = $2 WHERE id = $1`,
      [s.enrollment_id, next ? new Date(now.getTime() + next.delayDays * 86_400_000) : null],
    );
    return true;
  });
}

async function reconcile(services: OutreachServices, now: Date, out: StepRunResult, options: RunStepOptions) {
  const { db } = services;
  const open = await db.query<{
    send_key: string;
    enrollment_id: string;
    contact_id: string;
    sequence: string;
    step: number;
    created_at: Date;
    state: string;
  }>(
    `UPDATE outreach_sends SET claimed_until = now() + make_interval(secs => $1)
      WHERE id IN (SELECT id FROM outreach_sends
                    WHERE state = 'unknown' OR (state = 'pending' AND (claimed_until IS NULL OR claimed_until < now()))
                    ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED)
      RETURNING send_key, enrollment_id, contact_id, sequence, step, created_at, state`,
    [CLAIM_SECONDS],
  );
  if (open.rows.length === 0) return;
  const session = services.session('sendgrid');
  for (const s of open.rows) {
    // an event that carried this send id (processed, delivered, bounce…) already says it went out
    const ev = await db.query<{ detail: { messageId?: string } }>(
      `SELECT detail FROM outreach_events WHERE send_key = $1 LIMIT 1`,
      [s.send_key],
    );
    let found = ev.rows[0]
      ? ({ found: true, messageId: ev.rows[0].detail.messageId ?? '' } as const)
      : undefined;
    found ??= (await session.lookupSend!(s.send_key, new Date(s.created_at))) as never;
    const f = found as { found: true | false | 'unknown'; messageId?: string };
    if (f.found === true) {
      await settleSent(services, s.send_key, f.messageId || null, now);
      out.reconciled.sent++;
      continue;
    }
    if (f.found === 'unknown') {
      out.reconciled.unknown++;
      await db.query(
        `UPDATE outreach_sends SET state = 'unknown', claimed_until = NULL WHERE send_key = $1`,
        [s.send_key],
      );
      continue;
    }
    // the tool says no message carries this key: it never went out; send it again under the same key
    const def = await services.loadSequence(s.sequence);
    const scope = (await loadScopes(db, [Number(s.contact_id)])).get(Number(s.contact_id));
    const stopped = await stoppedContacts(db, [Number(s.contact_id)]);
    const email = String(scope?.contact?.email ?? '').toLowerCase();
    const enrollment = await db.query<{ segment: string; state: string }>(
      'SELECT segment, state FROM outreach_enrollments WHERE id = $1',
      [s.enrollment_id],
    );
    const en = enrollment.rows[0];
    const msg =
      scope && en
        ? renderMessage(def, scope, s.step, { secret: await services.secret(), track: en.segment })
        : undefined;
    if (
      !msg ||
      !en ||
      en.state !== 'active' ||
      stopped.has(Number(s.contact_id)) ||
      (await suppressedEmails(db, [email])).size > 0
    ) {
      await db.query(
        `UPDATE outreach_sends SET state = 'failed', error = 'not resent: the contact stopped', claimed_until = NULL WHERE send_key = $1`,
        [s.send_key],
      );
      continue;
    }
    await db.query('UPDATE outreach_sends SET attempts = attempts + 1, state = $2 WHERE send_key = $1', [
      s.send_key,
      'pending',
    ]);
    const r = await deliver(
      services,
      def,
      {
        sendKey: s.send_key,
        enrollmentId: s.enrollment_id,
        step: s.step,
        to: {
          email,
          ...(typeof scope?.contact?.full_name === 'string' ? { name: scope.contact.full_name } : {}),
        },
        msg,
      },
      now,
      out,
      options,
    );
    if (r === 'sent') {
      out.sent--;
      out.reconciled.resent++;
    }
  }
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) {
        const item = items[i++]!;
        try {
          await fn(item);
        } catch (err) {
          errors.push(err);
        }
      }
    }),
  );
  if (errors.length > 0) throw errors[0];
}
