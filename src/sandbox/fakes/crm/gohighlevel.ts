import { createHash, createPrivateKey, createPublicKey, randomUUID, sign } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { SANDBOX_REPS } from './clickup-workspace.ts';
import {
  type CrmFakeStats,
  type CrmFaults,
  deliver,
  idMaker,
  newStats,
  noFaults,
  RollingWindow,
  routeKey,
} from './crm-kit.ts';

/**
 * Fake GoHighLevel / LeadConnector API v2 (docs/provider-apis.md §5): Bearer token plus the required
 * `Version: 2021-07-28` header, one location per token (another location is a 403), 100 requests per
 * 10 s and 200,000 per day (429 with X-RateLimit-* headers), `POST /contacts/upsert` that matches by
 * email then phone (so it is idempotent when one is given), overwrites tags, silently drops a phone
 * another contact already holds, and answers `{new, contact}`; custom fields by id with
 * `field_value`; `POST /contacts/search` with filters, sort and `searchAfter`; record-level
 * `dateUpdated` only (no per-field history). Pipelines with stages and opportunities upserted per
 * contact and pipeline (`POST /opportunities/upsert`). Webhooks as a Marketplace app receives them:
 * flat `ContactCreate` / `ContactUpdate` / `ContactTagUpdate` payloads (the contact's fields at the top
 * level, no list of what changed, no source), with `webhookId` and `timestamp`, signed with Ed25519
 * over the raw body in `X-GHL-Signature` (base64; the RSA `X-WH-Signature` was retired on
 * 2026-07-01). Our own API writes send them too: echoes are Sluice's to recognise.
 */
export interface GhlContact {
  id: string;
  locationId: string;
  firstName: string | null;
  lastName: string | null;
  email: string | null;
  phone: string | null;
  companyName: string | null;
  website: string | null;
  city: string | null;
  state: string | null;
  source: string | null;
  assignedTo: string | null;
  tags: string[];
  customFields: Map<string, unknown>;
  dateAdded: number;
  dateUpdated: number;
}

export interface GhlField {
  id: string;
  name: string;
  fieldKey: string;
  dataType: 'TEXT' | 'LARGE_TEXT' | 'NUMERICAL' | 'SINGLE_OPTIONS';
  picklistOptions?: string[];
}

export interface GhlPipeline {
  id: string;
  name: string;
  stages: { id: string; name: string; position: number }[];
}

export interface GhlOpportunity {
  id: string;
  name: string;
  pipelineId: string;
  pipelineStageId: string;
  status: 'open' | 'won' | 'lost' | 'abandoned';
  contactId: string;
  assignedTo: string | null;
  monetaryValue: number;
  createdAt: number;
  updatedAt: number;
}

export interface GoHighLevelFake {
  app: Hono;
  apiKey: string;
  locationId: string;
  stats: CrmFakeStats;
  faults: CrmFaults;
  window: RollingWindow;
  daily: RollingWindow;
  contacts: Map<string, GhlContact>;
  fields: GhlField[];
  /** Notes (`POST /contacts/{id}/notes`) by contact id. */
  notes: Map<string, { id: string; body: string; dateAdded: string }[]>;
  /** The value of a contact's custom field, by the field's name. */
  custom(contact: GhlContact, name: string): unknown;
  pipelines: GhlPipeline[];
  opportunities: Map<string, GhlOpportunity>;
  /**
   * The public key webhooks are signed with (Ed25519, base64 DER SPKI: one line for an .env).
   * The sandbox's key pair is fixed, so the key stays valid across restarts.
   */
  webhookPublicKey: string;
  /** Delivers the location's contact events to this endpoint (an app's webhook URL). */
  subscribe(endpoint: string): void;
  /** A rep edits a contact in HighLevel's UI (record-level dateUpdated moves); the webhook goes out. */
  repEdit(id: string, changes: Partial<Record<string, unknown>>): Promise<void>;
  /** A rep drags an opportunity to another stage of its pipeline: `OpportunityStageUpdate` goes out. */
  repMoveOpportunity(id: string, stageName: string): void;
  /** Resolves when every webhook sent so far has been answered. */
  settled(): Promise<void>;
}

export interface GoHighLevelFakeOptions {
  apiKey?: string;
  /** Requests per 10 s. Default 100. */
  per10s?: number;
  /** The burst window, ms (tests shorten it). Default 10 000. */
  windowMs?: number;
  /** Requests per day. Default 200,000. */
  perDay?: number;
  latencyMs?: number;
  /** Seed of the webhook signing key (default: the sandbox's fixed one). */
  signingSeed?: string;
}

const STANDARD = [
  'firstName',
  'lastName',
  'email',
  'phone',
  'companyName',
  'website',
  'city',
  'state',
  'source',
  'assignedTo',
] as const;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A deterministic Ed25519 key pair from a seed text (the sandbox's key must survive restarts). */
function signingKeys(seed: string) {
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8, createHash('sha256').update(seed).digest()]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).toString('base64');
  return { privateKey, publicKey };
}

export function createGoHighLevelFake(options: GoHighLevelFakeOptions = {}): GoHighLevelFake {
  const apiKey = options.apiKey ?? 'pit-sandbox-gohighlevel';
  const locationId = 've9EPM428h8vShlRW1KT';
  const stats = newStats();
  const faults = noFaults();
  const window = new RollingWindow(options.per10s ?? 100, options.windowMs ?? 10_000);
  const daily = new RollingWindow(options.perDay ?? 200_000, 86_400_000);
  const contacts = new Map<string, GhlContact>();
  const notes: GoHighLevelFake['notes'] = new Map();
  const nextId = idMaker('seD4', 9_100_000_000);
  const nextOpp = idMaker('yWQo', 9_300_000_000);
  const pipelines: GhlPipeline[] = [
    {
      id: 'aFcEpBQzQNRH3kbIk9xh',
      name: 'Golf Courses',
      stages: ['New Lead', 'Contacted', 'Demo Booked', 'Won', 'Lost'].map((name, i) => ({
        id: `stg${i + 1}x7Qm2KpLr${i}`,
        name,
        position: i,
      })),
    },
  ];
  const opportunities = new Map<string, GhlOpportunity>();
  const keys = signingKeys(options.signingSeed ?? 'sluice sandbox gohighlevel webhooks');
  const hooks: string[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const field = (n: number, name: string, fieldKey: string, dataType: GhlField['dataType']): GhlField => ({
    id: `6dvNaf7VhkQ9snc5vn${String(n).padStart(2, '0')}`,
    name,
    fieldKey: `contact.${fieldKey}`,
    dataType,
  });
  const fields: GhlField[] = [
    field(1, 'sluice_id', 'sluice_id', 'TEXT'),
    { ...field(2, 'Segment', 'segment', 'SINGLE_OPTIONS'), picklistOptions: ['High-End', 'Budget', 'Both'] },
    field(3, 'Segment Confidence', 'segment_confidence', 'NUMERICAL'),
    field(4, 'Job Title', 'job_title', 'TEXT'),
    field(5, 'LinkedIn', 'linkedin', 'TEXT'),
    field(6, 'Top Opportunity', 'top_opportunity', 'TEXT'),
    field(7, 'Conversation Starters', 'conversation_starters', 'LARGE_TEXT'),
  ];
  const users = SANDBOX_REPS.map((r, i) => ({
    id: `UsR${i + 1}x9KqLmN0pQ`,
    name: r.username,
    email: r.email,
    roles: { type: 'account', role: 'user', locationIds: [locationId] },
  }));
  const app = new Hono();
  const fail = (c: Context, status: number, message: string | string[], error?: string) =>
    c.json({ statusCode: status, message, ...(error ? { error } : {}) }, status as 400);

  app.use('*', async (c, next) => {
    stats.requests++;
    const route = routeKey(c.req.method, c.req.url);
    stats.byRoute[route] = (stats.byRoute[route] ?? 0) + 1;
    if (c.req.header('authorization') !== `Bearer ${apiKey}`)
      return fail(c, 401, 'Invalid token: access token is invalid', 'Unauthorized');
    if (c.req.header('version') !== '2021-07-28') return fail(c, 400, 'Version header is missing or invalid');
    const day = daily.take();
    const w = day.allowed ? window.take() : day;
    c.header('X-RateLimit-Limit-Daily', String(daily.limit));
    c.header('X-RateLimit-Daily-Remaining', String(day.remaining));
    c.header('X-RateLimit-Interval-Milliseconds', String(window.windowMs));
    c.header('X-RateLimit-Max', String(window.limit));
    c.header('X-RateLimit-Remaining', String(w.remaining));
    if (!w.allowed) {
      stats.throttled++;
      return fail(c, 429, 'Too Many Requests');
    }
    stats.arrivals.push(Date.now());
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    if (faults.failWith) return fail(c, faults.failWith, 'Internal Server Error');
    await next();
  });

  const json = (t: GhlContact) => ({
    id: t.id,
    locationId: t.locationId,
    name: [t.firstName, t.lastName].filter(Boolean).join(' ') || null,
    firstName: t.firstName,
    lastName: t.lastName,
    email: t.email,
    emailLowerCase: t.email?.toLowerCase() ?? null,
    phone: t.phone,
    companyName: t.companyName,
    website: t.website,
    city: t.city,
    state: t.state,
    source: t.source,
    assignedTo: t.assignedTo,
    type: 'lead',
    dnd: false,
    tags: t.tags,
    customFields: [...t.customFields].map(([id, value]) => ({ id, value })),
    dateAdded: new Date(t.dateAdded).toISOString(),
    dateUpdated: new Date(t.dateUpdated).toISOString(),
  });
  /** The flat payload of a contact event: the contact's fields at the top level, no changed list. */
  function emit(type: 'ContactCreate' | 'ContactUpdate' | 'ContactTagUpdate', t: GhlContact) {
    const { emailLowerCase: _lower, type: _type, dateUpdated: _updated, ...contact } = json(t);
    send({ type, ...contact, locationId });
  }
  function send(event: Record<string, unknown>) {
    if (!hooks.length) return;
    const body = JSON.stringify({ ...event, webhookId: randomUUID(), timestamp: new Date().toISOString() });
    const signature = sign(null, Buffer.from(body), keys.privateKey).toString('base64');
    for (const endpoint of hooks) {
      const p = deliver(
        { id: 'ghl', endpoint, secret: '', events: [] },
        body,
        { 'x-ghl-signature': signature },
        stats,
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  }
  const byEmail = (email: string) =>
    [...contacts.values()].find((t) => t.email?.toLowerCase() === email.toLowerCase());
  const byPhone = (phone: string) => [...contacts.values()].find((t) => t.phone === phone);

  /** Applies a body; returns a 422 message list when it is invalid. */
  function apply(t: GhlContact, body: Record<string, unknown>): string[] | undefined {
    const problems: string[] = [];
    if (typeof body.email === 'string' && body.email !== '' && !EMAIL.test(body.email))
      problems.push('email must be an email');
    const cfs = (body.customFields ?? []) as { id?: string; key?: string; field_value?: unknown }[];
    if (!Array.isArray(cfs)) problems.push('customFields must be an array');
    for (const cf of Array.isArray(cfs) ? cfs : []) {
      const f = fields.find((x) => x.id === cf.id || x.fieldKey === cf.key);
      if (!f) problems.push(`customFields: no custom field ${cf.id ?? cf.key}`);
      else if (f.picklistOptions && cf.field_value && !f.picklistOptions.includes(String(cf.field_value)))
        problems.push(`customFields: "${String(cf.field_value)}" is not an option of ${f.name}`);
    }
    if (body.assignedTo && !users.some((u) => u.id === body.assignedTo))
      problems.push('assignedTo: no such user');
    if (problems.length) return problems;
    let changed = false;
    for (const k of STANDARD) {
      if (!(k in body)) continue;
      let v = body[k] === '' || body[k] === undefined ? null : (body[k] as string | null);
      // a phone another contact holds is dropped without an error (the reply shows the old one)
      if (k === 'phone' && v && byPhone(v) && byPhone(v) !== t) continue;
      if (k === 'email' && v) v = v.trim();
      if (t[k] !== v) {
        t[k] = v;
        changed = true;
      }
    }
    if (Array.isArray(body.tags)) {
      const tags = [...new Set((body.tags as string[]).map((x) => x.toLowerCase()))];
      if (tags.join() !== t.tags.join()) {
        t.tags = tags;
        changed = true;
      }
    }
    for (const cf of cfs) {
      const f = fields.find((x) => x.id === cf.id || x.fieldKey === cf.key)!;
      const v = cf.field_value === '' ? undefined : cf.field_value;
      if (t.customFields.get(f.id) === v) continue;
      if (v === undefined) t.customFields.delete(f.id);
      else t.customFields.set(f.id, f.dataType === 'NUMERICAL' ? Number(v) : v);
      changed = true;
    }
    if (changed) t.dateUpdated = Math.max(Date.now(), t.dateUpdated + 1);
    return undefined;
  }

  const newContact = (): GhlContact => {
    const now = Date.now();
    return {
      id: nextId(),
      locationId,
      firstName: null,
      lastName: null,
      email: null,
      phone: null,
      companyName: null,
      website: null,
      city: null,
      state: null,
      source: null,
      assignedTo: null,
      tags: [],
      customFields: new Map(),
      dateAdded: now,
      dateUpdated: now,
    };
  };
  const forLocation = (c: Context, id: unknown) =>
    id === locationId ? undefined : fail(c, 403, 'The token does not have access to this location');

  app.get('/locations/:locationId/customFields', (c) => {
    const denied = forLocation(c, c.req.param('locationId'));
    if (denied) return denied;
    return c.json({
      customFields: fields.map((f) => ({ ...f, model: 'contact', locationId, position: 0 })),
    });
  });
  app.get('/users/', (c) => forLocation(c, c.req.query('locationId')) ?? c.json({ users }));

  app.post('/contacts/upsert', async (c) => {
    const body = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    if (!body) return fail(c, 400, 'Bad Request');
    const denied = forLocation(c, body.locationId);
    if (denied) return denied;
    const email = typeof body.email === 'string' && body.email ? body.email : undefined;
    const phone = typeof body.phone === 'string' && body.phone ? body.phone : undefined;
    let t = (email && byEmail(email)) || (phone && byPhone(phone)) || undefined;
    const isNew = !t;
    t ??= newContact();
    const before = t.dateUpdated;
    const bad = apply(t, body);
    if (bad) return fail(c, 422, bad, 'Unprocessable Entity');
    contacts.set(t.id, t);
    if (isNew) emit('ContactCreate', t);
    else if (t.dateUpdated !== before) emit('ContactUpdate', t);
    return c.json({ new: isNew, contact: json(t), traceId: randomUUID() }, isNew ? 201 : 200);
  });

  app.get('/contacts/:id', (c) => {
    const t = contacts.get(c.req.param('id'));
    return t ? c.json({ contact: json(t) }) : fail(c, 400, 'Contact not found');
  });

  app.put('/contacts/:id', async (c) => {
    const t = contacts.get(c.req.param('id'));
    if (!t) return fail(c, 400, 'Contact not found');
    const body = ((await c.req.json().catch(() => null)) ?? {}) as Record<string, unknown>;
    if (typeof body.email === 'string' && body.email && byEmail(body.email) && byEmail(body.email) !== t)
      return fail(c, 400, 'This location does not allow duplicated contacts.');
    const before = t.dateUpdated;
    const bad = apply(t, body);
    if (bad) return fail(c, 422, bad, 'Unprocessable Entity');
    if (t.dateUpdated !== before) emit('ContactUpdate', t);
    return c.json({ succeded: true, contact: json(t) });
  });

  app.post('/contacts/:id/tags', async (c) => {
    const t = contacts.get(c.req.param('id'));
    if (!t) return fail(c, 400, 'Contact not found');
    const body = ((await c.req.json().catch(() => null)) ?? {}) as { tags?: string[] };
    const before = t.tags.join();
    t.tags = [...new Set([...t.tags, ...(body.tags ?? []).map((x) => x.toLowerCase())])];
    if (t.tags.join() !== before) {
      t.dateUpdated = Math.max(Date.now(), t.dateUpdated + 1);
      emit('ContactTagUpdate', t);
    }
    return c.json({ tags: t.tags });
  });

  app.get('/opportunities/pipelines', (c) => {
    const denied = forLocation(c, c.req.query('locationId'));
    if (denied) return denied;
    return c.json({ pipelines: pipelines.map((p) => ({ ...p, locationId })) });
  });

  const opportunityJson = (o: GhlOpportunity) => ({
    id: o.id,
    name: o.name,
    monetaryValue: o.monetaryValue,
    pipelineId: o.pipelineId,
    pipelineStageId: o.pipelineStageId,
    assignedTo: o.assignedTo,
    status: o.status,
    contactId: o.contactId,
    locationId,
    createdAt: new Date(o.createdAt).toISOString(),
    updatedAt: new Date(o.updatedAt).toISOString(),
  });

  // Upsert by contact and pipeline: a contact has at most one opportunity in a pipeline, so a
  // repeated upsert updates it (idempotent).
  app.post('/opportunities/upsert', async (c) => {
    const body = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    if (!body) return fail(c, 400, 'Bad Request');
    const denied = forLocation(c, body.locationId);
    if (denied) return denied;
    const pipeline = pipelines.find((p) => p.id === body.pipelineId);
    const problems: string[] = [];
    if (!pipeline) problems.push('pipelineId must be a pipeline of this location');
    if (typeof body.contactId !== 'string' || !contacts.has(body.contactId))
      problems.push('contactId must be a contact of this location');
    const stage = body.pipelineStageId ?? pipeline?.stages[0]?.id;
    if (pipeline && !pipeline.stages.some((x) => x.id === stage))
      problems.push('pipelineStageId must be a stage of the pipeline');
    if (body.status !== undefined && !['open', 'won', 'lost', 'abandoned'].includes(String(body.status)))
      problems.push('status must be one of open, won, lost, abandoned');
    if (body.assignedTo && !users.some((u) => u.id === body.assignedTo))
      problems.push('assignedTo: no such user');
    if (problems.length) return fail(c, 422, problems, 'Unprocessable Entity');
    const now = Date.now();
    let o = [...opportunities.values()].find(
      (x) => x.contactId === body.contactId && x.pipelineId === pipeline!.id,
    );
    const isNew = !o;
    o ??= {
      id: nextOpp(),
      name: '',
      pipelineId: pipeline!.id,
      pipelineStageId: String(stage),
      status: 'open',
      contactId: String(body.contactId),
      assignedTo: null,
      monetaryValue: 0,
      createdAt: now,
      updatedAt: now,
    };
    if (typeof body.name === 'string' && body.name) o.name = body.name;
    if (!o.name) o.name = contacts.get(o.contactId)?.email ?? o.contactId;
    if (body.pipelineStageId !== undefined) o.pipelineStageId = String(body.pipelineStageId);
    if (body.status !== undefined) o.status = body.status as GhlOpportunity['status'];
    if (body.assignedTo !== undefined) o.assignedTo = (body.assignedTo as string | null) ?? null;
    if (typeof body.monetaryValue === 'number') o.monetaryValue = body.monetaryValue;
    o.updatedAt = now;
    opportunities.set(o.id, o);
    return c.json({ opportunity: opportunityJson(o), new: isNew }, isNew ? 201 : 200);
  });

  app.get('/opportunities/search', (c) => {
    const denied = forLocation(c, c.req.query('location_id'));
    if (denied) return denied;
    const contact = c.req.query('contact_id');
    const pipeline = c.req.query('pipeline_id');
    const hits = [...opportunities.values()].filter(
      (o) => (!contact || o.contactId === contact) && (!pipeline || o.pipelineId === pipeline),
    );
    return c.json({ opportunities: hits.map(opportunityJson), meta: { total: hits.length } });
  });

  app.get('/opportunities/:id', (c) => {
    const o = opportunities.get(c.req.param('id'));
    return o ? c.json({ opportunity: opportunityJson(o) }) : fail(c, 400, 'Opportunity not found');
  });

  app.post('/contacts/:id/notes', async (c) => {
    const t = contacts.get(c.req.param('id'));
    if (!t) return fail(c, 400, 'Contact not found');
    const body = ((await c.req.json().catch(() => null)) ?? {}) as { body?: unknown; userId?: unknown };
    if (typeof body.body !== 'string' || !body.body.trim())
      return fail(c, 422, 'body must be a string', 'Unprocessable Entity');
    const note = {
      id: `note_${notes.size + 1}_${Date.now().toString(36)}`,
      body: body.body,
      dateAdded: new Date().toISOString(),
    };
    notes.set(t.id, [...(notes.get(t.id) ?? []), note]);
    return c.json(
      {
        note: {
          ...note,
          contactId: t.id,
          ...(typeof body.userId === 'string' ? { userId: body.userId } : {}),
        },
      },
      201,
    );
  });

  app.post('/contacts/search', async (c) => {
    const body = (await c.req.json().catch(() => null)) as {
      locationId?: string;
      pageLimit?: number;
      filters?: { field: string; operator: string; value: unknown }[];
      sort?: { field: string; direction: 'asc' | 'desc' }[];
      searchAfter?: [number, string];
    } | null;
    const denied = forLocation(c, body?.locationId);
    if (denied) return denied;
    const time = (t: GhlContact, f: string) => (f === 'dateAdded' ? t.dateAdded : t.dateUpdated);
    let hits = [...contacts.values()].filter((t) =>
      (body?.filters ?? []).every((f) => {
        if (f.field === 'dateUpdated' || f.field === 'dateAdded') {
          const v = time(t, f.field);
          const x = Date.parse(String(f.value));
          return f.operator === 'gt' ? v > x : f.operator === 'gte' ? v >= x : v === x;
        }
        const raw = f.field.startsWith('customFields.')
          ? t.customFields.get(f.field.slice('customFields.'.length))
          : (t as unknown as Record<string, unknown>)[f.field];
        const v = String(raw ?? '').toLowerCase();
        return f.operator === 'eq' ? v === String(f.value).toLowerCase() : v.includes(String(f.value));
      }),
    );
    const s = body?.sort?.[0] ?? { field: 'dateAdded', direction: 'desc' };
    const dir = s.direction === 'asc' ? 1 : -1;
    hits.sort((a, b) => (time(a, s.field) - time(b, s.field)) * dir || (a.id < b.id ? -dir : dir));
    if (body?.searchAfter) {
      const [ts, id] = body.searchAfter;
      hits = hits.filter((t) => {
        const d = (time(t, s.field) - ts) * dir;
        return d > 0 || (d === 0 && (dir > 0 ? t.id > id : t.id < id));
      });
    }
    const limit = Math.min(500, body?.pageLimit ?? 20);
    const page = hits.slice(0, limit);
    return c.json({
      contacts: page.map((t) => ({ ...json(t), searchAfter: [time(t, s.field), t.id] })),
      total: hits.length,
    });
  });

  return {
    app,
    apiKey,
    locationId,
    stats,
    faults,
    window,
    daily,
    contacts,
    fields,
    pipelines,
    opportunities,
    webhookPublicKey: keys.publicKey,
    subscribe(endpoint) {
      hooks.push(endpoint);
    },
    async settled() {
      while (inFlight.size) await Promise.all([...inFlight]);
    },
    notes,
    custom(contact, name) {
      const f = fields.find((x) => x.name === name);
      return f ? contact.customFields.get(f.id) : undefined;
    },
    repMoveOpportunity(id, stageName) {
      const o = opportunities.get(id);
      const stage = pipelines.find((p) => p.id === o?.pipelineId)?.stages.find((x) => x.name === stageName);
      if (!o || !stage) throw new Error(`no opportunity ${id} or stage ${stageName}`);
      o.pipelineStageId = stage.id;
      o.updatedAt = Math.max(Date.now(), o.updatedAt + 1);
      const { createdAt, updatedAt: _u, ...rest } = opportunityJson(o);
      send({ type: 'OpportunityStageUpdate', ...rest, dateAdded: createdAt, source: null });
    },
    async repEdit(id, changes) {
      const t = contacts.get(id);
      if (!t) throw new Error(`no contact ${id}`);
      const before = t.dateUpdated;
      const custom = Object.entries(changes)
        .filter(([k]) => fields.some((f) => f.name === k))
        .map(([k, v]) => ({ id: fields.find((f) => f.name === k)!.id, field_value: v }));
      apply(t, {
        ...Object.fromEntries(Object.entries(changes).filter(([k]) => !fields.some((f) => f.name === k))),
        customFields: custom,
      });
      if (t.dateUpdated !== before) emit('ContactUpdate', t);
    },
  };
}
