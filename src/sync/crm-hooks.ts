import type { DestinationSession } from '../crm/define-destination.ts';
import { getDestination } from '../crm/registry.ts';
import type { Db } from '../db/db.ts';
import { CriticalError } from '../errors.ts';
import { baseUrlEnvVar } from '../providers/http.ts';
import type { InboundSource } from '../webhooks/inbound/inbound-registry.ts';
import { applyRemoteRecord, emptyInbound, type InboundCounts } from './apply-remote.ts';
import type { SyncDefinition } from './compile-sync.ts';
import { connectDestination } from './connect.ts';
import { loadSync } from './load-sync.ts';

/**
 * The processors of CRM webhooks (`sluice serve`'s inbound hooks, which verify the signature on the
 * raw bytes, store and dedupe the event before this runs in a job). A webhook is a hint: the record
 * is read again and put through the per-field rules (apply-remote.ts), for every sync that wrote it.
 * HubSpot events name the app that made the change: those of our app (HUBSPOT_APP_ID) are dropped
 * at once; ClickUp's and GoHighLevel's carry no source, so our own writes are recognised by value
 * (echo).
 */
type Env = Readonly<Record<string, string | undefined>>;
/** Sync name → definition (default: the built-in of that name; tests pass their own). */
export type LoadSync = (name: string) => Promise<SyncDefinition>;

const cache = new WeakMap<Db, Map<string, { session: Promise<DestinationSession>; at: number }>>();
const SESSION_TTL_MS = 10 * 60_000;

/** One connected session per database, sync and account (connecting ClickUp costs a few requests). */
function sessionFor(db: Db, def: SyncDefinition, env: Env): Promise<DestinationSession> {
  const dest = getDestination(def.destination);
  const key = [def.name, env[baseUrlEnvVar(dest.id)] ?? '', env[dest.auth.envVar] ?? ''].join('|');
  const sessions = cache.get(db) ?? new Map();
  cache.set(db, sessions);
  const cached = sessions.get(key);
  if (cached && Date.now() - cached.at < SESSION_TTL_MS) return cached.session;
  const session = connectDestination(def, { db, env });
  sessions.set(key, { session, at: Date.now() });
  session.catch(() => sessions.delete(key));
  return session;
}

/** Syncs (by name) that hold this remote record. */
async function syncsOf(db: Db, destination: string, remoteId: string): Promise<string[]> {
  const r = await db.query<{ sync_name: string }>(
    'SELECT DISTINCT sync_name FROM sync_records WHERE destination = $1 AND remote_id = $2 ORDER BY 1',
    [destination, remoteId],
  );
  return r.rows.map((x) => x.sync_name);
}

/** Reads the record again for each sync that wrote it and applies the rules. */
export async function processRemoteChange(
  db: Db,
  env: Env,
  destination: string,
  remoteId: string,
  eventKey: string,
  load: LoadSync = loadSync,
): Promise<Record<string, InboundCounts>> {
  const out: Record<string, InboundCounts> = {};
  for (const name of await syncsOf(db, destination, remoteId)) {
    let def: SyncDefinition;
    try {
      def = await load(name);
    } catch {
      out[name] = { ...emptyInbound(), ignored: 'not a built-in sync: run `sluice sync poll <file>` for it' };
      continue;
    }
    const session = await sessionFor(db, def, env);
    const rec = await session.read(remoteId);
    if (!rec) {
      out[name] = { ...emptyInbound(), ignored: `${destination} record ${remoteId} is gone` };
      continue;
    }
    out[name] = await applyRemoteRecord(db, def, rec, {
      eventKey,
      ...(destination === 'hubspot' && env.HUBSPOT_APP_ID
        ? { ourSource: `INTEGRATION:${env.HUBSPOT_APP_ID}` }
        : {}),
    });
  }
  return out;
}

/** ClickUp `taskUpdated`/`taskCreated`/… events: the task is read again. */
export function clickupSyncSource(base: InboundSource, env?: Env, load?: LoadSync): InboundSource {
  return {
    ...base,
    async process(event, { db }) {
      const b = event.body as { event?: unknown; task_id?: unknown } | null;
      if (!b || typeof b.task_id !== 'string') throw new CriticalError('ClickUp event without a task_id');
      if (b.event === 'taskDeleted') return { ignored: 'task deleted' };
      // the CLI loads .env into the environment before anything runs
      return processRemoteChange(db, env ?? process.env, 'clickup', b.task_id, `hook:${event.eventId}`, load);
    },
  };
}

/** HubSpot `*.propertyChange` batches: one read per changed object; our own app's changes dropped. */
export function hubspotSyncSource(base: InboundSource, env?: Env, load?: LoadSync): InboundSource {
  return {
    ...base,
    async process(event, { db }) {
      const e = env ?? process.env;
      if (!Array.isArray(event.body))
        throw new CriticalError('HubSpot webhook body is not an array of events');
      const ours = (x: { changeSource?: unknown; sourceId?: unknown }) =>
        x.changeSource === 'INTEGRATION' &&
        e.HUBSPOT_APP_ID !== undefined &&
        String(x.sourceId) === e.HUBSPOT_APP_ID;
      const events = event.body as {
        objectId?: unknown;
        changeSource?: unknown;
        sourceId?: unknown;
        eventId?: unknown;
      }[];
      const objects = [
        ...new Set(events.filter((x) => !ours(x)).map((x) => String(x.objectId ?? ''))),
      ].filter(Boolean);
      const out: Record<string, unknown> = { dropped: events.length - events.filter((x) => !ours(x)).length };
      for (const id of objects)
        out[id] = await processRemoteChange(db, e, 'hubspot', id, `hook:${event.eventId}:${id}`, load);
      return out;
    },
  };
}

/** The contact events of a HighLevel app that can change a synced field. */
const GHL_CONTACT_EVENTS = new Set([
  'ContactCreate',
  'ContactUpdate',
  'ContactTagUpdate',
  'ContactDndUpdate',
  'ContactTagCreate',
]);

/** Opportunity events that can move a stage (read back on the contact). */
const GHL_OPPORTUNITY_EVENTS = new Set([
  'OpportunityStageUpdate',
  'OpportunityStatusUpdate',
  'OpportunityUpdate',
]);

/**
 * GoHighLevel contact events (flat payloads: the contact's fields at the top level, no list of what
 * changed, no source): the contact is read again and put through the rules; our own writes are
 * recognised by value (echo), as ClickUp's. An opportunity's stage change is read back on its contact
 * (`opportunity.stage`). Events of another location than GHL_LOCATION_ID, and other event types
 * (appointments, notes), are acknowledged and left alone.
 */
export function gohighlevelSyncSource(base: InboundSource, env?: Env, load?: LoadSync): InboundSource {
  return {
    ...base,
    async process(event, { db }) {
      const e = env ?? process.env;
      const b = event.body as {
        type?: unknown;
        id?: unknown;
        locationId?: unknown;
        contactId?: unknown;
      } | null;
      if (!b || typeof b.type !== 'string') throw new CriticalError('GoHighLevel event without a type');
      if (b.type === 'ContactDelete') return { ignored: 'contact deleted' };
      // an opportunity's stage is read back on its contact (field opportunity.stage)
      const contact = GHL_OPPORTUNITY_EVENTS.has(b.type) ? b.contactId : b.id;
      if (!GHL_CONTACT_EVENTS.has(b.type) && !GHL_OPPORTUNITY_EVENTS.has(b.type))
        return { ignored: `${b.type} events are not synced back` };
      if (typeof contact !== 'string' || !contact)
        throw new CriticalError(`GoHighLevel ${b.type} without a contact id`);
      const location = e.GHL_LOCATION_ID?.trim();
      if (location && b.locationId !== location)
        return { ignored: `location ${String(b.locationId)} is not GHL_LOCATION_ID` };
      return processRemoteChange(db, e, 'gohighlevel', contact, `hook:${event.eventId}`, load);
    },
  };
}
