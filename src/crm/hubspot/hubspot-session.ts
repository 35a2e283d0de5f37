import { z } from 'zod';
import { ConfigError, CriticalError, NotFoundError } from '../../errors.ts';
import type {
  DestinationClient,
  DestinationSession,
  DestinationTarget,
  RemoteRecord,
  RemoteWrite,
  RowResult,
} from '../define-destination.ts';

/**
 * A connected HubSpot: batch upserts keyed by `sluice_id` (or email, the first time a contact is
 * matched), batch updates by id once the remote id is known, results matched by `sluice_id` /
 * objectWriteTraceId (never by position), and a 2xx checked row by row.
 */
const KEY = 'sluice_id';
const objectBody = z.object({
  id: z.string(),
  properties: z.record(z.string(), z.string().nullable()),
  propertiesWithHistory: z
    .record(
      z.string(),
      z.array(
        z.object({
          value: z.string().nullable(),
          timestamp: z.string(),
          sourceType: z.string().optional(),
          sourceId: z.string().nullable().optional(),
        }),
      ),
    )
    .optional(),
  updatedAt: z.string(),
  archived: z.boolean().optional(),
});
const batchBody = z.object({
  results: z.array(objectBody),
  errors: z
    .array(
      z.object({
        category: z.string().optional(),
        message: z.string(),
        context: z.record(z.string(), z.array(z.string())).optional(),
      }),
    )
    .optional(),
});
const searchBody = z.object({
  total: z.number(),
  results: z.array(z.object({ id: z.string() })),
  paging: z.object({ next: z.object({ after: z.string() }).optional() }).optional(),
});
const propertyBody = z.object({
  type: z.string(),
  options: z.array(z.object({ label: z.string(), value: z.string() })).default([]),
});
/** HUBSPOT_DEFINED association type of a note to a contact. */
const NOTE_TO_CONTACT = 202;
const ownersBody = z.object({
  results: z.array(z.object({ id: z.string(), email: z.string().nullable().optional() })),
});

/** HubSpot takes strings; "" clears a property (a null would be ignored). */
function hubspotValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.join(';');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export async function createHubSpotSession(
  client: DestinationClient,
  target: DestinationTarget,
): Promise<DestinationSession> {
  const object = target.object;
  const parentObject = target.parent?.object;
  // sluice_id must exist with unique values on every object we write, or upserts cannot be keyed.
  // The checks and the owners are read at once (connecting is on the clock of the first sync).
  const checkKey = async (obj: string) => {
    try {
      const res = await client.request(
        { method: 'GET', path: `/crm/v3/properties/${obj}/${KEY}` },
        { idempotent: true },
      );
      if ((res.body as { hasUniqueValue?: boolean }).hasUniqueValue !== true)
        throw new NotFoundError('not unique');
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      throw new ConfigError(
        `HubSpot ${obj} need a custom property "${KEY}" with unique values: create it (POST /crm/v3/properties/${obj} {"name":"${KEY}","label":"Sluice id","type":"string","fieldType":"text","groupName":"${obj === 'companies' ? 'companyinformation' : 'contactinformation'}","hasUniqueValue":true}), then sync again`,
      );
    }
  };
  const [ownersRes] = await Promise.all([
    client.request({ method: 'GET', path: '/crm/v3/owners', query: { limit: 500 } }, { idempotent: true }),
    ...[object, ...(parentObject ? [parentObject] : [])].map(checkKey),
  ]);
  const owners = new Map<string, string>();
  const ownerEmails = new Map<string, string>();
  const o = ownersBody.parse(ownersRes.body);
  for (const x of o.results) {
    if (!x.email) continue;
    owners.set(x.email.toLowerCase(), x.id);
    ownerEmails.set(x.id, x.email.toLowerCase());
  }
  const readProps = [...new Set([KEY, ...target.fields.filter((f) => f !== 'owner'), 'hubspot_owner_id'])];

  const properties = (row: RemoteWrite, withKey: boolean) => {
    const props: Record<string, string> = {};
    for (const [k, v] of Object.entries(row.fields))
      props[k === 'owner' ? 'hubspot_owner_id' : k] = hubspotValue(v);
    const owner = row.route.owner ? owners.get(row.route.owner.toLowerCase()) : undefined;
    if (owner) props.hubspot_owner_id = owner;
    if (withKey) props[KEY] = row.key;
    return props;
  };

  /** Reads a batch answer: results by sluice_id, per-row errors by objectWriteTraceId. */
  function results(rows: RemoteWrite[], body: unknown, byId?: Map<string, string>): RowResult[] {
    const b = batchBody.parse(body);
    const out: RowResult[] = [];
    for (const r of b.results) {
      const key = byId?.get(r.id) ?? r.properties[KEY] ?? undefined;
      if (key) out.push({ key, status: 'ok', remoteId: r.id });
    }
    for (const e of b.errors ?? []) {
      for (const key of e.context?.objectWriteTraceId ?? []) {
        out.push({
          key,
          status: e.category === 'RATE_LIMIT' || e.category === 'LOCKED' ? 'retryable' : 'permanent',
          error: `${e.category ?? 'error'}: ${e.message}`,
        });
      }
    }
    const seen = new Set(out.map((r) => r.key));
    for (const r of rows) {
      if (!seen.has(r.key))
        out.push({
          key: r.key,
          status: 'permanent',
          error: `HubSpot answered without a result for ${r.remoteId ? `id ${r.remoteId} (deleted or merged in HubSpot?)` : r.key}`,
        });
    }
    return out;
  }

  async function upsert(obj: string, rows: RemoteWrite[]): Promise<RowResult[]> {
    const out: RowResult[] = [];
    // one idProperty per request: email for first matches of contacts, sluice_id otherwise
    const groups = new Map<string, RemoteWrite[]>();
    for (const r of rows) {
      const prop = obj === 'contacts' && r.matchValue ? 'email' : KEY;
      groups.set(prop, [...(groups.get(prop) ?? []), r]);
    }
    for (const [idProperty, group] of groups) {
      const res = await client.request(
        {
          method: 'POST',
          path: `/crm/v3/objects/${obj}/batch/upsert`,
          body: {
            inputs: group.map((r) => ({
              idProperty,
              id: idProperty === 'email' ? r.matchValue : r.key,
              properties: properties(r, true),
              objectWriteTraceId: r.key,
            })),
          },
          acceptStatus: [207],
        },
        { idempotent: true },
      );
      out.push(...results(group, res.body));
    }
    return out;
  }

  async function update(obj: string, rows: RemoteWrite[]): Promise<RowResult[]> {
    const byId = new Map(rows.map((r) => [r.remoteId!, r.key]));
    const withProps = rows.filter((r) => Object.keys(properties(r, false)).length > 0);
    const out: RowResult[] = rows
      .filter((r) => !withProps.includes(r))
      .map((r) => ({ key: r.key, status: 'ok', remoteId: r.remoteId! }));
    if (withProps.length) {
      const res = await client.request(
        {
          method: 'POST',
          path: `/crm/v3/objects/${obj}/batch/update`,
          body: { inputs: withProps.map((r) => ({ id: r.remoteId, properties: properties(r, false) })) },
          acceptStatus: [207],
        },
        { idempotent: true },
      );
      out.push(...results(withProps, res.body, byId));
    }
    return out;
  }

  async function associate(rows: RemoteWrite[], done: RowResult[]): Promise<void> {
    if (!parentObject) return;
    const ids = new Map(
      done.filter((r) => r.status === 'ok').map((r) => [r.key, (r as { remoteId: string }).remoteId]),
    );
    const inputs = rows
      .filter((r) => r.parentRemoteId && ids.has(r.key))
      .map((r) => ({ from: { id: ids.get(r.key)! }, to: { id: r.parentRemoteId! } }));
    if (inputs.length === 0) return;
    await client.request(
      {
        method: 'POST',
        path: `/crm/v4/associations/${object}/${parentObject}/batch/associate/default`,
        body: { inputs },
      },
      { idempotent: true },
    );
  }

  const parentProps = target.parent
    ? [...new Set([KEY, ...target.parent.fields.filter((f) => f !== 'owner'), 'hubspot_owner_id'])]
    : [];

  /** An enumeration takes one of its option values: the status is matched to a value or a label. */
  async function statusValue(property: string, status: string): Promise<string> {
    const res = await client.request(
      { method: 'GET', path: `/crm/v3/properties/${object}/${encodeURIComponent(property)}` },
      { idempotent: true },
    );
    const def = propertyBody.parse(res.body);
    if (def.type !== 'enumeration') return status;
    const want = status.trim().toLowerCase();
    const option = def.options.find((o) => o.value.toLowerCase() === want || o.label.toLowerCase() === want);
    if (!option)
      throw new CriticalError(
        `hubspot: the note was added, but ${object} property ${property} has no option "${status}" (options: ${def.options.map((o) => o.label).join(', ')}); add it in HubSpot (Settings → Properties) or set the sequence's crm.reply_status to one of them`,
      );
    return option.value;
  }

  function toRecord(o: z.infer<typeof objectBody>, props: string[] = readProps): RemoteRecord {
    const fields: RemoteRecord['fields'] = {};
    for (const p of props) {
      if (p === KEY) continue;
      const h = o.propertiesWithHistory?.[p]?.[0];
      const value = o.properties[p] === '' ? null : (o.properties[p] ?? null);
      const name = p === 'hubspot_owner_id' ? 'owner' : p;
      fields[name] = {
        value: name === 'owner' && value ? (ownerEmails.get(value) ?? value) : value,
        ...(h
          ? { changedAt: new Date(h.timestamp), source: `${h.sourceType ?? ''}:${h.sourceId ?? ''}` }
          : {}),
      };
    }
    return {
      remoteId: o.id,
      key: o.properties[KEY] ?? undefined,
      updatedAt: new Date(o.updatedAt),
      fields,
      archived: o.archived ?? false,
    };
  }

  async function batchRead(ids: string[], obj = object, props = readProps): Promise<RemoteRecord[]> {
    if (ids.length === 0) return [];
    const res = await client.request(
      {
        method: 'POST',
        path: `/crm/v3/objects/${obj}/batch/read`,
        body: {
          inputs: ids.map((id) => ({ id })),
          properties: props,
          propertiesWithHistory: props.filter((p) => p !== KEY),
        },
      },
      { idempotent: true },
    );
    return batchBody.parse(res.body).results.map((r) => toRecord(r, props));
  }

  /** Records of `obj` changed after `since`, oldest first (search, then a batch read of each page). */
  async function changed(
    obj: string,
    props: string[],
    since: Date,
    cursor: string | undefined,
  ): Promise<{ records: RemoteRecord[]; next?: string }> {
    const res = await client.request(
      {
        method: 'POST',
        path: `/crm/v3/objects/${obj}/search`,
        body: {
          filterGroups: [
            {
              filters: [{ propertyName: 'lastmodifieddate', operator: 'GT', value: String(since.getTime()) }],
            },
          ],
          sorts: [{ propertyName: 'lastmodifieddate', direction: 'ASCENDING' }],
          properties: [KEY],
          limit: 100,
          ...(cursor ? { after: cursor } : {}),
        },
      },
      { limit: 'search', idempotent: true },
    );
    const page = searchBody.parse(res.body);
    const records = (
      await batchRead(
        page.results.map((r) => r.id),
        obj,
        props,
      )
    ).sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime());
    // search stops at 10,000 results: the caller moves its watermark and starts a new window
    const next = page.paging?.next?.after;
    return { records, ...(next && Number(next) < 10_000 ? { next } : {}) };
  }

  return {
    batchSize: 100,
    createNeedsOutbox: false,
    naturalKey: object === 'contacts' ? 'email' : undefined,
    async write(rows) {
      const creates = rows.filter((r) => !r.remoteId);
      const updates = rows.filter((r) => r.remoteId);
      const done = [
        ...(creates.length ? await upsert(object, creates) : []),
        ...(updates.length ? await update(object, updates) : []),
      ];
      await associate(rows, done);
      return done;
    },
    async writeParents(rows) {
      if (!parentObject) return [];
      const creates = rows.filter((r) => !r.remoteId);
      const updates = rows.filter((r) => r.remoteId);
      return [
        ...(creates.length ? await upsert(parentObject, creates) : []),
        ...(updates.length ? await update(parentObject, updates) : []),
      ];
    },
    async archive(ids) {
      await client.request(
        {
          method: 'POST',
          path: `/crm/v3/objects/${object}/batch/archive`,
          body: { inputs: ids.map((id) => ({ id })) },
        },
        { idempotent: true },
      );
      return ids.map((id) => ({ key: id, status: 'ok', remoteId: id }));
    },
    async findByKey(key) {
      const res = await client.request(
        {
          method: 'POST',
          path: `/crm/v3/objects/${object}/search`,
          body: {
            filterGroups: [{ filters: [{ propertyName: KEY, operator: 'EQ', value: key }] }],
            properties: [KEY],
            limit: 1,
          },
        },
        { limit: 'search', idempotent: true },
      );
      return searchBody.parse(res.body).results[0]?.id;
    },
    async read(id) {
      return (await batchRead([id]))[0];
    },
    async annotate(id, update) {
      // the note first: the reply's text is what the rep needs, whatever happens to the status
      if (update.comment) {
        if (object !== 'contacts')
          throw new ConfigError(`hubspot: notes on ${object} are not supported (only contacts)`);
        await client.request({
          method: 'POST',
          path: '/crm/v3/objects/notes',
          body: {
            properties: { hs_timestamp: new Date().toISOString(), hs_note_body: update.comment },
            associations: [
              {
                to: { id },
                types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: NOTE_TO_CONTACT }],
              },
            ],
          },
        });
      }
      if (update.status) {
        const property = update.statusField ?? 'hs_lead_status';
        const value = await statusValue(property, update.status);
        await client.request(
          {
            method: 'PATCH',
            path: `/crm/v3/objects/${object}/${encodeURIComponent(id)}`,
            body: { properties: { [property]: value } },
          },
          { idempotent: true },
        );
      }
    },
    async changes(since, cursor) {
      return changed(object, readProps, since, cursor);
    },
    ...(parentObject
      ? {
          async parentChanges(since: Date, cursor?: string) {
            return changed(parentObject, parentProps, since, cursor);
          },
        }
      : {}),
  };
}
