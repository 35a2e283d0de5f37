import type { SluiceError } from '../errors.ts';
import type { HttpRequest, HttpResponse, RateLimitSpec } from '../providers/define-provider.ts';

/**
 * The destination port (docs/sync.md): one definition object per CRM, like the enrichment providers
 * (src/providers/define-provider.ts). The sync engine (src/sync/) only sees this interface; each CRM's
 * quirks (ClickUp's custom-field ids, HubSpot's batch upsert on `sluice_id`, GoHighLevel's Version
 * header) live in its folder. Registered explicitly in registry.ts.
 */

/** One record to write: the values of the mapped remote fields, keyed by remote field name. */
export interface RemoteWrite {
  /** The deterministic id the destination stores in its `sluice_id` field (`sluice:contact:42`). */
  key: string;
  /** The destination's id, when the remote-id map has one (then it is an update). */
  remoteId?: string;
  /** Natural key for the first match only (an email), when the record was never matched. */
  matchValue?: string;
  /** Remote field → value; null clears the field (only when the null rule says so). */
  fields: Record<string, unknown>;
  /** Where the record goes: ClickUp list path, owner (a rep's email). */
  route: RemoteRoute;
  /** The parent's remote id (HubSpot company), to associate with. */
  parentRemoteId?: string;
}

export interface RemoteRoute {
  /** `Folder/List` (ClickUp) or pipeline/stage; absent when the destination has one place. */
  list?: string;
  /** The owner: a rep's email, resolved to the destination's user id at connect. */
  owner?: string;
}

/** Per-record result of a write. `retryable` ones are retried on every later sync. */
export type RowResult =
  | { key: string; status: 'ok'; remoteId: string; warning?: string }
  | { key: string; status: 'retryable' | 'permanent'; error: string };

/** A record as the destination holds it now (webhooks are hints: the engine reads this). */
export interface RemoteRecord {
  remoteId: string;
  /** Its `sluice_id`, when it has one (records created outside Sluice have none). */
  key: string | undefined;
  /** When the record last changed (the only time ClickUp and GoHighLevel give). */
  updatedAt: Date;
  fields: Record<string, RemoteFieldValue>;
  archived?: boolean;
}

export interface RemoteFieldValue {
  value: unknown;
  /** Per-field change time when the CRM keeps history (HubSpot propertiesWithHistory). */
  changedAt?: Date;
  /** Who made the change, when the CRM says (HubSpot source id): our own app's writes are echoes. */
  source?: string;
}

/** What the sync definition asks of the destination at connect time. */
export interface DestinationTarget {
  object: string;
  /** Every list/route path the routing can produce (resolved to ids at start). */
  lists: string[];
  /** Remote fields the mapping writes (custom fields are resolved by name). */
  fields: string[];
  /** Optional parent object (HubSpot companies) and its fields. */
  parent?: { object: string; fields: string[] };
}

/** A connected destination: ids resolved, ready to write. */
export interface DestinationSession {
  /** Largest batch one request takes (ClickUp 1, HubSpot 100). */
  readonly batchSize: number;
  /** True when a create cannot be repeated safely (ClickUp): creates go through the outbox. */
  readonly createNeedsOutbox: boolean;
  /** The remote field whose change makes the record's first-match key (email) or undefined. */
  readonly naturalKey: string | undefined;
  /**
   * Writes a batch: creates (no remoteId) and updates. Per-row results, matched by key, never by
   * position. Throws a SluiceError when the request as a whole failed (CriticalError = rejected,
   * the engine bisects the batch; RetryableError = maybe applied, the outbox reconciles).
   */
  write(rows: RemoteWrite[]): Promise<RowResult[]>;
  /** Writes parents (HubSpot companies) by key; idempotent. */
  writeParents?(rows: RemoteWrite[]): Promise<RowResult[]>;
  /** Archives (never deletes) records (mirror mode). */
  archive(remoteIds: string[]): Promise<RowResult[]>;
  /** Finds the record holding `key` in its sluice_id field (reconcile after an ambiguous create). */
  findByKey(key: string, route: RemoteRoute): Promise<string | undefined>;
  /** The current state of one record; undefined when it is gone. */
  read(remoteId: string): Promise<RemoteRecord | undefined>;
  /**
   * Records changed after `since`, oldest first, in bounded pages; `next` continues the same window.
   */
  changes(since: Date, cursor?: string): Promise<{ records: RemoteRecord[]; next?: string }>;
  /**
   * The same for the parent object (HubSpot companies), for `sluice crm pull`. Absent when the
   * destination has no parent object.
   */
  parentChanges?(since: Date, cursor?: string): Promise<{ records: RemoteRecord[]; next?: string }>;
  /**
   * Outreach's CRM update (docs/outreach.md): sets the record's status and adds a comment (a reply's
   * text). `statusField`: the remote field the sync maps to `contact.stage`, where the destination has
   * no status of its own (HubSpot: default `hs_lead_status`; GoHighLevel: a custom field, else a tag;
   * ClickUp: the task status, always). The comment is written first (it has no idempotency key; the
   * caller records that it was made); a status the destination refuses throws after it, naming the
   * options. Optional: a destination without it reports the update as unsupported.
   */
  annotate?(
    remoteId: string,
    update: { status?: string; statusField?: string; comment?: string },
  ): Promise<void>;
}

/** What a definition's code gets: one request function with auth, limits and throttle waits built in. */
export interface DestinationClient {
  /**
   * Sends one request through the shared limiter. Throttles (429) are waited out and retried without
   * counting as attempts; `idempotent` requests are also retried on transient errors.
   */
  request(
    req: HttpRequest & { acceptStatus?: number[] },
    options?: { limit?: 'search'; idempotent?: boolean },
  ): Promise<HttpResponse>;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface DestinationDefinition {
  /** Lowercase id used in sync definitions, tables and limiter keys (`clickup`). */
  id: string;
  name: string;
  /** Env var holding the token; `extra` names other required settings (GoHighLevel location id). */
  auth: { envVar: string; extra?: { envVar: string; description: string }[] };
  /** Default base URL; overridable by env `SLUICE_<ID>_BASE_URL`. */
  baseUrl: string;
  applyAuth(req: HttpRequest, token: string, env: Readonly<Record<string, string | undefined>>): HttpRequest;
  /** Limits of every request (per token), through the gateway's limiter. */
  limits: RateLimitSpec[];
  /** Extra limits of search requests (HubSpot 5/s). */
  searchLimits?: RateLimitSpec[];
  /** Max requests in flight at once from one process. */
  concurrency: number;
  /** The one place this CRM's error answers become Sluice errors (throttle codes, Retry-After). */
  mapError(res: HttpResponse): SluiceError;
  /** Objects a sync can target and the field types the destination knows, for docs and validation. */
  objects: Record<string, { description: string; parent?: string }>;
  fieldTypes: readonly string[];
  connect(client: DestinationClient, target: DestinationTarget): Promise<DestinationSession>;
}

/** Identity function that keeps the literal types of a destination definition. */
export function defineDestination<const D extends DestinationDefinition>(definition: D): D {
  return definition;
}
