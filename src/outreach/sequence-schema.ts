import { z } from 'zod';

/**
 * The YAML of a sequence (`sequences/*.yaml`, docs/outreach.md). Validated here, compiled in
 * compile-sequence.ts; every problem is reported as `file:line:col: field: message`.
 */
const time = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time is HH:MM (24 h), e.g. 09:00');
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

export const stepSchema = z
  .object({
    /** Days after the previous step (the first step: after the start). */
    delay_days: z.number().int().min(0).max(90),
    subject: z.string().min(1),
    body: z.string().min(1),
  })
  .strict();

export const trackSchema = z
  .object({
    /** The sender mailbox of this track (an entry of `senders`). */
    sender: z.string().email(),
    steps: z.array(stepSchema).min(1).max(10),
  })
  .strict();

export const senderSchema = z
  .object({
    email: z.string().email(),
    name: z.string().min(1),
    /** Messages per day from this mailbox, across every sequence. */
    daily_cap: z.number().int().positive().max(5_000),
  })
  .strict();

export const sequenceSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'a sequence name is lowercase letters, digits and -'),
    description: z.string().optional(),
    /** `sendgrid`: Sluice schedules each step; `instantly`: an Instantly campaign per track. */
    channel: z.enum(['sendgrid', 'instantly']),
    /** Which contacts may be started (expression over `contact` and `account`). */
    audience: z.string().min(1).optional(),
    /** Picks the track (expression); the value names a key of `tracks`, else `default`. */
    track_by: z.string().min(1).default('account.segment'),
    tracks: z.record(z.string(), trackSchema),
    senders: z.array(senderSchema).min(1),
    window: z
      .object({
        from: time,
        to: time,
        days: z.array(z.enum(DAYS)).min(1).default(['mon', 'tue', 'wed', 'thu', 'fri']),
        /** Used when a contact's time zone is not known (no contact.time_zone, no US state). */
        default_timezone: z.string().default('America/New_York'),
      })
      .strict(),
    /** The conversation starter offered to templates as `{{starter}}`: the best-scored one at least this good. */
    starter: z
      .object({
        field: z.string().default('account.conversation_starters'),
        min_score: z.number().default(0),
      })
      .strict()
      .default({ field: 'account.conversation_starters', min_score: 0 }),
    /** Required by law in every message (CAN-SPAM): the sender's postal address, and an unsubscribe link. */
    compliance: z
      .object({
        postal_address: z.string().min(10),
        /** A template; `{{unsubscribe_token}}` identifies the contact without exposing the email. */
        unsubscribe_url: z.string().url(),
        unsubscribe_mailto: z.string().email().optional(),
      })
      .strict(),
    /** On a reply: the CRM task (through this sync's remote-id map) gets this status and a comment. */
    crm: z
      .object({ sync: z.string().min(1), reply_status: z.string().min(1).default('Replied') })
      .strict()
      .optional(),
    /** On a reply: tell the rep (the track's sender) by a signed webhook and/or an email. */
    notify: z
      .object({ webhook: z.string().url().optional(), email: z.boolean().default(false) })
      .strict()
      .optional(),
  })
  .strict();

export type SequenceSpec = z.infer<typeof sequenceSchema>;
export const WEEKDAYS = DAYS;
