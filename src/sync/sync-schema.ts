import { z } from 'zod';

/**
 * The shape of a sync definition file (`syncs/*.yaml`, docs/sync.md). Validated by zod; the loader
 * (load-sync.ts) maps every issue back to file:line. Templates and expressions are the pipelines'
 * language (`{{contact.email}}`, `present(account.segment)`).
 */

/** When a field is written: always, only while the remote value is blank, never (read only), both ways. */
export const WRITE_RULES = ['always', 'only-if-blank', 'never', 'two-way'] as const;
export type WriteRule = (typeof WRITE_RULES)[number];

/** Who wins a CRM edit of a two-way field: the CRM (reps), Sluice, or the newest evidence. */
export const WIN_POLICIES = ['crm', 'sluice', 'newest'] as const;
export type WinPolicy = (typeof WIN_POLICIES)[number];

/** Operation sets: upsert {create, update}, update-only, insert-only, mirror {create, update, archive}. */
export const SYNC_MODES = ['upsert', 'update-only', 'insert-only', 'mirror'] as const;
export type SyncMode = (typeof SYNC_MODES)[number];

const fieldSpec = z
  .object({
    /** The destination field: a property (`name`, `description`, `email`) or a custom field's name. */
    to: z.string().min(1),
    /** Template of the value sent. Required unless the rule is `never`. */
    value: z.string().optional(),
    rule: z.enum(WRITE_RULES).default('always'),
    /** `skip` (default): never send a null over a value; `clear`: a null clears the remote field. */
    nulls: z.enum(['skip', 'clear']).default('skip'),
    /** The Sluice field a CRM edit comes back to (`contact.phone`); two-way and never fields. */
    local: z
      .string()
      .regex(/^(contact|account)\.[a-z_][a-z0-9_]*$/, 'must be contact.<field> or account.<field>')
      .optional(),
    /** Who wins a CRM edit. Default by field: owner/stage/notes → crm, *_status → sluice, else newest. */
    wins: z.enum(WIN_POLICIES).optional(),
  })
  .strict();
export type FieldSpec = z.infer<typeof fieldSpec>;

const routeSpec = z
  .object({
    /** Expression whose value picks the entry of `map`. */
    by: z.string().min(1),
    map: z.record(z.string(), z.string()),
    default: z.string().optional(),
  })
  .strict();
export type RouteSpec = z.infer<typeof routeSpec>;

const duration = z.string().regex(/^\d+(s|m|h)$/, 'must be a duration such as 90s, 15m or 2h');

export const syncSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lowercase letters, digits and dashes'),
    description: z.string().optional(),
    /** Destination id: clickup, hubspot, gohighlevel. */
    destination: z.string().min(1),
    /** The destination's object (task, contacts). */
    object: z.string().min(1),
    /** Which Sluice records: one destination record per contact or per account. */
    records: z.enum(['contacts', 'accounts']),
    /** Expression a record must satisfy (scope: contact, account). Default: every record. */
    filter: z.string().optional(),
    mode: z.enum(SYNC_MODES).default('upsert'),
    /** Remote field used to find an existing record the first time only (email); later the remote id. */
    match: z.string().optional(),
    routing: z.object({ list: routeSpec.optional(), owner: routeSpec.optional() }).strict().optional(),
    fields: z.array(fieldSpec).min(1),
    /** A parent object written first and associated (HubSpot companies for contacts). */
    parent: z
      .object({ object: z.string().min(1), fields: z.array(fieldSpec).min(1) })
      .strict()
      .optional(),
    /** When it runs besides `sluice sync run`: after a pipeline's batch finishes, or every N minutes. */
    runs: z.object({ after_pipeline: z.string().optional(), every: duration.optional() }).strict().optional(),
  })
  .strict();
export type SyncSpec = z.infer<typeof syncSchema>;
