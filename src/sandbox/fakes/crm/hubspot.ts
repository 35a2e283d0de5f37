import { createHmac, randomUUID } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { SANDBOX_REPS } from './clickup-workspace.ts';
import {
  type CrmFakeStats,
  type CrmFaults,
  deliver,
  newStats,
  noFaults,
  RollingWindow,
  routeKey,
  type WebhookTarget,
} from './crm-kit.ts';

/**
 * Fake HubSpot CRM v3 (docs/provider-apis.md §4, sync-design.md): Bearer auth; 190 requests per 10 s
 * rolling (429 TEN_SECONDLY_ROLLING with X-HubSpot-RateLimit-* headers) and 5/s on search (429
 * SECONDLY, no rate headers); batch upsert on a unique property (`sluice_id`, or email for contacts;
 * `domain` and `hs_object_id` are refused), per-row errors (207) only when every input has an
 * objectWriteTraceId, a whole-batch 400 otherwise; batch update that leaves unknown ids out of a 2xx
 * answer with no error; property history with source types; search that sees a write only after a
 * lag; v4 default associations; signed v3 webhooks that name the source app.
 */
interface Obj {
  id: string;
  properties: Record<string, string>;
  history: Record<string, { value: string; timestamp: string; sourceType: string; sourceId: string }[]>;
  createdAt: number;
  updatedAt: number;
  /** When search sees this version (eventual consistency). */
  indexedAt: number;
  archived: boolean;
  associations: Set<string>;
}

export interface HubSpotFake {
  app: Hono;
  apiKey: string;
  /** The app id our token belongs to: webhook events of our writes carry it as sourceId. */
  appId: string;
  stats: CrmFakeStats;
  faults: CrmFaults;
  window: RollingWindow;
  searchWindow: RollingWindow;
  objects: Record<'contacts' | 'companies', Map<string, Obj>>;
  /** The options of the contacts' `hs_lead_status` enumeration (HubSpot's defaults; a portal may add more). */
  leadStatusOptions: { label: string; value: string }[];
  /** Notes (`POST /crm/v3/objects/notes`) with the records they are associated with. */
  notes: { id: string; body: string; timestamp: string; contacts: string[] }[];
  /** Subscribes a webhook endpoint (HubSpot configures this in the developer portal). */
  subscribe(endpoint: string, clientSecret: string): void;
  /** A rep edits properties in HubSpot's UI. */
  repEdit(
    object: 'contacts' | 'companies',
    id: string,
    changes: Record<string, string>,
    repId?: number,
  ): Promise<void>;
  settled(): Promise<void>;
}

export interface HubSpotFakeOptions {
  apiKey?: string;
  /** Requests per 10 s. Default 190 (Professional). */
  per10s?: number;
  /** The rolling window, ms (tests shorten it). Default 10 000. */
  windowMs?: number;
  /** Search requests per second. Default 5. */
  searchPerSecond?: number;
  /** How long a write takes to reach search, ms. Default 2 000. */
  searchLagMs?: number;
  latencyMs?: number;
}

const OBJECTS = ['contacts', 'companies'] as const;
const UNIQUE: Record<string, string[]> = { contacts: ['email', 'sluice_id'], companies: ['sluice_id'] };
const KNOWN: Record<string, Set<string>> = {
  contacts: new Set([
    'email',
    'firstname',
    'lastname',
    'phone',
    'jobtitle',
    'company',
    'hs_linkedin_url',
    'website',
    'lifecyclestage',
    'hs_lead_status',
    'hubspot_owner_id',
    'sluice_id',
    'segment',
    'segment_confidence',
    'top_opportunity',
    'conversation_starters',
    'city',
    'state',
  ]),
  companies: new Set([
    'name',
    'domain',
    'phone',
    'city',
    'state',
    'industry',
    'website',
    'hubspot_owner_id',
    'sluice_id',
    'segment',
    'segment_confidence',
  ]),
};
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
/** HubSpot's default lead statuses (Settings → Properties → Lead Status). */
const LEAD_STATUSES = [
  ['New', 'NEW'],
  ['Open', 'OPEN'],
  ['In Progress', 'IN_PROGRESS'],
  ['Open Deal', 'OPEN_DEAL'],
  ['Unqualified', 'UNQUALIFIED'],
  ['Attempted to Contact', 'ATTEMPTED_TO_CONTACT'],
  ['Connected', 'CONNECTED'],
  ['Bad Timing', 'BAD_TIMING'],
] as const;
/** HUBSPOT_DEFINED association type ids from a note. */
const NOTE_TO_CONTACT = 202;

export function createHubSpotFake(options: HubSpotFakeOptions = {}): HubSpotFake {
  const apiKey = options.apiKey ?? 'pat-na1-sandbox-hubspot';
  const appId = '4242001';
  const stats = newStats();
  const faults = noFaults();
  const window = new RollingWindow(options.per10s ?? 190, options.windowMs ?? 10_000);
  const searchWindow = new RollingWindow(options.searchPerSecond ?? 5, 1_000);
  const lag = options.searchLagMs ?? 2_000;
  const objects = { contacts: new Map<string, Obj>(), companies: new Map<string, Obj>() };
  // HubSpot object ids are numeric strings (webhooks carry them as numbers)
  let lastId = 51_200_000_000;
  const nextId = () => {
    lastId += 7_919;
    return String(lastId);
  };
  const hooks: WebhookTarget[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const app = new Hono();
  let eventId = 100;
  const leadStatusOptions = LEAD_STATUSES.map(([label, value]) => ({ label, value }));
  const notes: HubSpotFake['notes'] = [];

  const error = (
    c: Context,
    status: number,
    category: string,
    message: string,
    extra: Record<string, unknown> = {},
  ) => c.json({ status: 'error', message, correlationId: randomUUID(), category, ...extra }, status as 400);

  app.use('*', async (c, next) => {
    stats.requests++;
    stats.byRoute[routeKey(c.req.method, c.req.url)] =
      (stats.byRoute[routeKey(c.req.method, c.req.url)] ?? 0) + 1;
    if (c.req.header('authorization') !== `Bearer ${apiKey}`)
      return error(c, 401, 'INVALID_AUTHENTICATION', 'Authentication credentials not found.');
    const search = c.req.path.endsWith('/search');
    const w = (search ? searchWindow : window).take();
    if (!search) {
      c.header('X-HubSpot-RateLimit-Interval-Milliseconds', String(window.windowMs));
      c.header('X-HubSpot-RateLimit-Max', String(window.limit));
      c.header('X-HubSpot-RateLimit-Remaining', String(w.remaining));
    }
    if (!w.allowed) {
      stats.throttled++;
      return c.json(
        {
          status: 'error',
          message: 'You have reached your secondly limit.',
          errorType: 'RATE_LIMIT',
          correlationId: randomUUID(),
          policyName: search ? 'SECONDLY' : 'TEN_SECONDLY_ROLLING',
          requestId: randomUUID(),
        },
        429,
      );
    }
    stats.arrivals.push(Date.now());
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    if (faults.failWith) return error(c, faults.failWith, 'INTERNAL_ERROR', 'internal error');
    await next();
  });

  const json = (o: Obj, props?: string[], history?: string[]) => ({
    id: o.id,
    properties: Object.fromEntries(
      [
        ...new Set([
          ...(props ?? Object.keys(o.properties)),
          'hs_object_id',
          'lastmodifieddate',
          'createdate',
        ]),
      ].map((p) => [
        p,
        p === 'hs_object_id'
          ? o.id
          : p === 'lastmodifieddate'
            ? new Date(o.updatedAt).toISOString()
            : p === 'createdate'
              ? new Date(o.createdAt).toISOString()
              : (o.properties[p] ?? null),
      ]),
    ),
    ...(history
      ? {
          propertiesWithHistory: Object.fromEntries(
            history.map((p) => [p, [...(o.history[p] ?? [])].reverse()]),
          ),
        }
      : {}),
    createdAt: new Date(o.createdAt).toISOString(),
    updatedAt: new Date(o.updatedAt).toISOString(),
    archived: o.archived,
  });

  function notify(object: string, o: Obj, changed: string[], source: string, sourceId: string) {
    if (!changed.length || !hooks.length) return;
    const events = changed.map((p) => ({
      eventId: eventId++,
      subscriptionId: 9001,
      portalId: 7_700_001,
      appId: Number(appId),
      occurredAt: o.updatedAt,
      subscriptionType: `${object === 'contacts' ? 'contact' : 'company'}.propertyChange`,
      attemptNumber: 0,
      objectId: Number(o.id),
      propertyName: p,
      propertyValue: o.properties[p] ?? '',
      changeSource: source,
      sourceId,
    }));
    for (const hook of hooks) {
      const body = JSON.stringify(events);
      const ts = String(Date.now());
      const sig = createHmac('sha256', hook.secret)
        .update(`POST${hook.endpoint}${body}${ts}`)
        .digest('base64');
      const p = deliver(
        hook,
        body,
        { 'x-hubspot-signature-v3': sig, 'x-hubspot-request-timestamp': ts },
        stats,
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  }

  /** Applies properties; returns the names whose value changed. */
  function apply(o: Obj, props: Record<string, string>, sourceType: string, sourceId: string): string[] {
    const changed: string[] = [];
    const now = Date.now();
    const timestamp = new Date(now).toISOString();
    for (const [k, v] of Object.entries(props)) {
      if ((o.properties[k] ?? '') === v) continue;
      o.properties[k] = v;
      for (const object of OBJECTS) {
        const idx = index.get(`${object}.${k}`);
        if (idx && objects[object].get(o.id) === o) addTo(idx, v, o);
      }
      const history = o.history[k] ?? [];
      history.push({ value: v, timestamp, sourceType, sourceId });
      o.history[k] = history;
      changed.push(k);
    }
    if (changed.length) {
      o.updatedAt = now;
      o.indexedAt = now + lag;
    }
    return changed;
  }

  const invalid = (object: string, props: Record<string, unknown>): string | undefined => {
    for (const [k, v] of Object.entries(props)) {
      if (!KNOWN[object]!.has(k)) return `Property "${k}" does not exist`;
      if (typeof v !== 'string') return `Property values must be strings: ${k}`;
      if (k === 'email' && v !== '' && !EMAIL.test(v))
        return `Property values were not valid: "${v}" is not a valid email address`;
      if (
        object === 'contacts' &&
        k === 'hs_lead_status' &&
        v !== '' &&
        !leadStatusOptions.some((o) => o.value === v)
      )
        return `Property values were not valid: ${v} was not one of the allowed options: ${leadStatusOptions.map((o) => o.value).join(', ')}`;
    }
    return undefined;
  };
  // Lookups by a unique property go through an index, as HubSpot's do: a scan of every object per
  // input made the fake, not the sync, the bottleneck of bench:sync (two scans per contact).
  const index = new Map<string, Map<string, Set<Obj>>>();
  const indexOf = (object: 'contacts' | 'companies', prop: string) => {
    const key = `${object}.${prop}`;
    let idx = index.get(key);
    if (!idx) {
      idx = new Map();
      index.set(key, idx);
      for (const o of objects[object].values()) addTo(idx, o.properties[prop], o);
    }
    return idx;
  };
  function addTo(idx: Map<string, Set<Obj>>, value: string | undefined, o: Obj) {
    if (!value) return;
    const k = value.toLowerCase();
    const set = idx.get(k) ?? new Set<Obj>();
    set.add(o);
    idx.set(k, set);
  }
  const findBy = (object: 'contacts' | 'companies', prop: string, value: string) => {
    for (const o of indexOf(object, prop).get(value.toLowerCase()) ?? [])
      if (!o.archived && (o.properties[prop] ?? '').toLowerCase() === value.toLowerCase()) return o;
    return undefined;
  };

  for (const object of OBJECTS) {
    const base = `/crm/v3/objects/${object}`;
    app.get(`/crm/v3/properties/${object}/:name`, (c) => {
      const name = c.req.param('name');
      if (name === 'sluice_id')
        return c.json({
          name: 'sluice_id',
          label: 'Sluice id',
          type: 'string',
          fieldType: 'text',
          hasUniqueValue: true,
        });
      if (object === 'contacts' && name === 'hs_lead_status')
        return c.json({
          name,
          label: 'Lead Status',
          type: 'enumeration',
          fieldType: 'select',
          hasUniqueValue: false,
          options: leadStatusOptions.map((o, i) => ({ ...o, displayOrder: i, hidden: false })),
        });
      if (KNOWN[object]!.has(name))
        return c.json({ name, label: name, type: 'string', fieldType: 'text', hasUniqueValue: false });
      return error(c, 404, 'OBJECT_NOT_FOUND', `Unable to find property ${name}`);
    });

    app.patch(`${base}/:id`, async (c) => {
      const body = (await c.req.json().catch(() => null)) as { properties?: Record<string, string> } | null;
      const o = objects[object].get(c.req.param('id'));
      if (!o || o.archived) return error(c, 404, 'OBJECT_NOT_FOUND', 'resource not found');
      const bad = invalid(object, body?.properties ?? {});
      if (bad) return error(c, 400, 'VALIDATION_ERROR', bad);
      const changed = apply(o, body?.properties ?? {}, 'INTEGRATION', appId);
      notify(object, o, changed, 'INTEGRATION', appId);
      return c.json(json(o));
    });

    app.post(`${base}/batch/upsert`, async (c) => {
      const body = (await c.req.json().catch(() => null)) as {
        inputs?: {
          idProperty?: string;
          id?: string;
          properties?: Record<string, string>;
          objectWriteTraceId?: string;
        }[];
      } | null;
      const inputs = body?.inputs;
      if (!Array.isArray(inputs) || inputs.length === 0)
        return error(c, 400, 'VALIDATION_ERROR', 'inputs is required');
      if (inputs.length > 100) return error(c, 400, 'VALIDATION_ERROR', 'Batch size must be at most 100');
      const ids = inputs.map((i) => `${i.idProperty}:${String(i.id).toLowerCase()}`);
      if (new Set(ids).size !== ids.length)
        return error(c, 400, 'VALIDATION_ERROR', 'Duplicate IDs found in batch input');
      for (const i of inputs) {
        if (!i.idProperty || !UNIQUE[object]!.includes(i.idProperty))
          return error(
            c,
            400,
            'VALIDATION_ERROR',
            `Property ${i.idProperty} is not a unique property and cannot be used as idProperty`,
          );
      }
      const traced = inputs.every((i) => i.objectWriteTraceId !== undefined);
      const errors: {
        status: string;
        category: string;
        message: string;
        context: { objectWriteTraceId: string[] };
      }[] = [];
      const bad = inputs.map((i) => invalid(object, i.properties ?? {}));
      if (!traced && bad.some(Boolean)) return error(c, 400, 'VALIDATION_ERROR', bad.find(Boolean)!);
      const results: unknown[] = [];
      const events: [Obj, string[]][] = [];
      inputs.forEach((i, n) => {
        if (bad[n]) {
          errors.push({
            status: 'error',
            category: 'VALIDATION_ERROR',
            message: bad[n]!,
            context: { objectWriteTraceId: [i.objectWriteTraceId!] },
          });
          return;
        }
        const props: Record<string, string> = {
          ...(i.properties ?? {}),
          [i.idProperty === 'email' ? 'email' : 'sluice_id']: String(i.id),
        };
        let o = findBy(object, i.idProperty!, String(i.id));
        const isNew = !o;
        if (object === 'contacts' && props.email) {
          const holder = findBy('contacts', 'email', props.email);
          if (holder && holder !== o) {
            errors.push({
              status: 'error',
              category: 'CONFLICT',
              message: `Contact already exists. Existing ID: ${holder.id}`,
              context: { objectWriteTraceId: [i.objectWriteTraceId ?? ''] },
            });
            return;
          }
        }
        if (!o) {
          const now = Date.now();
          o = {
            id: nextId(),
            properties: {},
            history: {},
            createdAt: now,
            updatedAt: now,
            indexedAt: now + lag,
            archived: false,
            associations: new Set(),
          };
          objects[object].set(o.id, o);
        }
        const changed = apply(o, props, 'INTEGRATION', appId);
        events.push([o, changed]);
        results.push({ ...json(o), new: isNew });
      });
      for (const [o, changed] of events) notify(object, o, changed, 'INTEGRATION', appId);
      const now = new Date().toISOString();
      const payload = { status: 'COMPLETE', results, startedAt: now, completedAt: now, requestedAt: now };
      return errors.length
        ? c.json({ ...payload, numErrors: errors.length, errors }, 207)
        : c.json(payload, 200);
    });

    app.post(`${base}/batch/update`, async (c) => {
      const body = (await c.req.json().catch(() => null)) as {
        inputs?: { id?: string; idProperty?: string; properties?: Record<string, string> }[];
      } | null;
      const inputs = body?.inputs ?? [];
      if (inputs.length === 0 || inputs.length > 100)
        return error(c, 400, 'VALIDATION_ERROR', 'inputs must hold 1 to 100 items');
      if (inputs.some((i) => i.idProperty === 'email'))
        return error(c, 400, 'VALIDATION_ERROR', 'email cannot be used as idProperty for batch update');
      // one bad input rejects the whole batch: there is no per-row error here
      const bad = inputs.map((i) => invalid(object, i.properties ?? {})).find(Boolean);
      if (bad) return error(c, 400, 'VALIDATION_ERROR', bad);
      const results: unknown[] = [];
      for (const i of inputs) {
        const o = objects[object].get(String(i.id));
        if (!o || o.archived) continue; // left out, with no error: the caller must check every row
        if (object === 'contacts' && i.properties?.email) {
          const holder = findBy('contacts', 'email', i.properties.email);
          if (holder && holder !== o)
            return error(c, 409, 'CONFLICT', `Contact already exists. Existing ID: ${holder.id}`);
        }
        const changed = apply(o, i.properties ?? {}, 'INTEGRATION', appId);
        notify(object, o, changed, 'INTEGRATION', appId);
        results.push(json(o));
      }
      const now = new Date().toISOString();
      return c.json(
        { status: 'COMPLETE', results, startedAt: now, completedAt: now },
        results.length < inputs.length ? 207 : 200,
      );
    });

    app.post(`${base}/batch/read`, async (c) => {
      const body = (await c.req.json().catch(() => null)) as {
        inputs?: { id: string }[];
        properties?: string[];
        propertiesWithHistory?: string[];
      } | null;
      const results = (body?.inputs ?? [])
        .map((i) => objects[object].get(String(i.id)))
        .filter((o): o is Obj => !!o && !o.archived);
      return c.json({
        status: 'COMPLETE',
        results: results.map((o) => json(o, body?.properties, body?.propertiesWithHistory)),
      });
    });

    app.post(`${base}/batch/archive`, async (c) => {
      const body = (await c.req.json().catch(() => null)) as { inputs?: { id: string }[] } | null;
      for (const i of body?.inputs ?? []) {
        const o = objects[object].get(String(i.id));
        if (o) o.archived = true;
      }
      return c.body(null, 204);
    });

    app.get(`${base}/:id`, (c) => {
      const o = objects[object].get(c.req.param('id'));
      if (!o || o.archived) return error(c, 404, 'OBJECT_NOT_FOUND', `resource not found`);
      const list = (q: string | undefined) => q?.split(',').filter(Boolean);
      return c.json(json(o, list(c.req.query('properties')), list(c.req.query('propertiesWithHistory'))));
    });

    app.post(`${base}/search`, async (c) => {
      const body = (await c.req.json().catch(() => null)) as {
        filterGroups?: { filters: { propertyName: string; operator: string; value?: string }[] }[];
        sorts?: { propertyName: string; direction: string }[];
        properties?: string[];
        limit?: number;
        after?: string;
      } | null;
      const limit = Math.min(200, body?.limit ?? 10);
      const after = Number(body?.after ?? 0);
      if (after + limit > 10_000)
        return error(c, 400, 'VALIDATION_ERROR', 'Search results are limited to 10,000; narrow the filters');
      const now = Date.now();
      const value = (o: Obj, p: string) =>
        p === 'lastmodifieddate'
          ? String(o.updatedAt)
          : p === 'hs_object_id'
            ? o.id
            : (o.properties[p] ?? '');
      const match = (o: Obj) =>
        (body?.filterGroups ?? []).length === 0 ||
        body!.filterGroups!.some((g) =>
          g.filters.every((f) => {
            const v = value(o, f.propertyName);
            if (f.operator === 'EQ') return v.toLowerCase() === String(f.value).toLowerCase();
            if (f.operator === 'GT') return Number(v) > Number(f.value);
            if (f.operator === 'GTE') return Number(v) >= Number(f.value);
            if (f.operator === 'HAS_PROPERTY') return v !== '';
            return false;
          }),
        );
      // only writes older than the lag are searchable
      const hits = [...objects[object].values()].filter((o) => !o.archived && o.indexedAt <= now && match(o));
      const sort = body?.sorts?.[0];
      if (sort)
        hits.sort(
          (a, b) =>
            (Number(value(a, sort.propertyName)) - Number(value(b, sort.propertyName))) *
            (sort.direction === 'DESCENDING' ? -1 : 1),
        );
      const page = hits.slice(after, after + limit);
      return c.json({
        total: hits.length,
        results: page.map((o) => json(o, body?.properties)),
        ...(after + limit < hits.length ? { paging: { next: { after: String(after + limit) } } } : {}),
      });
    });
  }

  app.post('/crm/v4/associations/contacts/companies/batch/associate/default', async (c) => {
    const body = (await c.req.json().catch(() => null)) as {
      inputs?: { from: { id: string }; to: { id: string } }[];
    } | null;
    const results = [];
    for (const i of body?.inputs ?? []) {
      const from = objects.contacts.get(String(i.from.id));
      if (!from || !objects.companies.has(String(i.to.id)))
        return error(c, 400, 'VALIDATION_ERROR', `No object with id ${i.from.id} or ${i.to.id}`);
      from.associations.add(String(i.to.id));
      results.push({
        fromObjectTypeId: '0-1',
        fromObjectId: Number(i.from.id),
        toObjectTypeId: '0-2',
        toObjectId: Number(i.to.id),
        labels: [],
      });
    }
    return c.json({ status: 'COMPLETE', results });
  });

  app.post('/crm/v3/objects/notes', async (c) => {
    const body = (await c.req.json().catch(() => null)) as {
      properties?: Record<string, string>;
      associations?: {
        to?: { id?: string };
        types?: { associationCategory?: string; associationTypeId?: number }[];
      }[];
    } | null;
    const p = body?.properties ?? {};
    if (!p.hs_timestamp) return error(c, 400, 'VALIDATION_ERROR', 'Property "hs_timestamp" is required');
    const contacts: string[] = [];
    for (const a of body?.associations ?? []) {
      const id = String(a.to?.id ?? '');
      const type = a.types?.[0];
      if (type?.associationCategory !== 'HUBSPOT_DEFINED' || type.associationTypeId !== NOTE_TO_CONTACT)
        return error(c, 400, 'VALIDATION_ERROR', `unsupported association type ${JSON.stringify(a.types)}`);
      if (!objects.contacts.get(id)) return error(c, 404, 'OBJECT_NOT_FOUND', `contact ${id} not found`);
      contacts.push(id);
    }
    const note = { id: nextId(), body: p.hs_note_body ?? '', timestamp: p.hs_timestamp, contacts };
    notes.push(note);
    const now = new Date().toISOString();
    return c.json(
      {
        id: note.id,
        properties: { hs_note_body: note.body, hs_timestamp: note.timestamp, hs_object_id: note.id },
        createdAt: now,
        updatedAt: now,
        archived: false,
      },
      201,
    );
  });

  app.get('/crm/v3/owners', (c) =>
    c.json({
      results: SANDBOX_REPS.map((r, i) => ({
        id: String(700 + i),
        email: r.email,
        firstName: r.username.split(' ')[0],
        lastName: 'Rep',
        userId: r.id,
        archived: false,
      })),
    }),
  );

  return {
    app,
    apiKey,
    appId,
    stats,
    faults,
    window,
    searchWindow,
    objects,
    leadStatusOptions,
    notes,
    subscribe(endpoint, clientSecret) {
      hooks.push({ id: String(hooks.length + 1), endpoint, secret: clientSecret, events: ['*'] });
    },
    async repEdit(object, id, changes, repId = SANDBOX_REPS[0]!.id) {
      const o = objects[object].get(id);
      if (!o) throw new Error(`no ${object} ${id}`);
      notify(object, o, apply(o, changes, 'CRM_UI', `userId:${repId}`), 'CRM_UI', `userId:${repId}`);
    },
    async settled() {
      while (inFlight.size) await Promise.all([...inFlight]);
    },
  };
}
