import { z } from 'zod';
import { ConfigError, CriticalError, SluiceError } from '../../errors.ts';
import type {
  DestinationClient,
  DestinationSession,
  DestinationTarget,
  RemoteRecord,
  RemoteWrite,
  RowResult,
} from '../define-destination.ts';

/**
 * A connected GoHighLevel location: custom fields and users resolved by name/email at start, one
 * contact per request (there is no batch endpoint): `POST /contacts/upsert` for a record never matched
 * (idempotent: it matches by email, then phone), `PUT /contacts/{id}` once the remote id is known (so
 * an email change updates the same contact). Tags are added with `POST /contacts/{id}/tags` on
 * updates (the upsert's `tags` would overwrite a rep's). The answer is checked field by field: an
 * upsert silently drops a phone another contact holds, reported as a warning. With routing
 * (`Pipeline/Stage`), a contact the sync creates gets an opportunity in that pipeline and stage
 * (`POST /opportunities/upsert`, one per contact and pipeline, so a retried create makes no second
 * one); a contact that was already there keeps the opportunity it has, and afterwards the stage is
 * the rep's: the sync never moves it.
 */
const KEY = 'sluice_id';
/**
 * The stage of the contact's opportunity in its routed pipeline, as a field a definition can read
 * back (`rule: never`, `local: contact.stage`): reps own the stage. Read with one more request per
 * record read (webhooks); the poll's contact search does not see opportunity moves.
 */
export const GHL_STAGE_FIELD = 'opportunity.stage';
/** Contact properties that are not custom fields (the sync definition's `to:` names). */
export const GHL_STANDARD = new Set([
  'firstName',
  'lastName',
  'name',
  'email',
  'phone',
  'companyName',
  'website',
  'address1',
  'city',
  'state',
  'postalCode',
  'country',
  'source',
  'tags',
  'assignedTo',
]);

const fieldsBody = z.object({
  customFields: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      fieldKey: z.string().optional(),
      dataType: z.string().optional(),
      picklistOptions: z.array(z.string()).optional(),
    }),
  ),
});
const usersBody = z.object({
  users: z.array(z.object({ id: z.string(), email: z.string().nullable().optional() })),
});
const contactBody = z
  .object({
    id: z.string(),
    email: z.string().nullable().optional(),
    phone: z.string().nullable().optional(),
    tags: z.array(z.string()).optional(),
    assignedTo: z.string().nullable().optional(),
    customFields: z.array(z.object({ id: z.string(), value: z.unknown().optional() })).optional(),
    dateUpdated: z.string().optional(),
    dateAdded: z.string().optional(),
  })
  .passthrough();
const searchBody = z.object({
  contacts: z.array(
    contactBody.extend({ searchAfter: z.array(z.union([z.number(), z.string()])).optional() }),
  ),
});
type Contact = z.infer<typeof contactBody>;
const pipelinesBody = z.object({
  pipelines: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      stages: z.array(z.object({ id: z.string(), name: z.string() })),
    }),
  ),
});
const opportunitySearch = z.object({
  opportunities: z.array(
    z.object({
      id: z.string(),
      pipelineId: z.string(),
      pipelineStageId: z.string().optional(),
      updatedAt: z.string().optional(),
    }),
  ),
});

function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export async function createGoHighLevelSession(
  client: DestinationClient,
  target: DestinationTarget,
): Promise<DestinationSession> {
  const locationId = client.env.GHL_LOCATION_ID!.trim();
  const cf = fieldsBody.parse(
    (
      await client.request(
        { method: 'GET', path: `/locations/${encodeURIComponent(locationId)}/customFields` },
        { idempotent: true },
      )
    ).body,
  ).customFields;
  const byName = new Map<string, (typeof cf)[number]>();
  for (const f of cf) {
    byName.set(f.name.toLowerCase(), f);
    if (f.fieldKey) byName.set(f.fieldKey.replace(/^contact\./, '').toLowerCase(), f);
  }
  const custom = (f: string) => !GHL_STANDARD.has(f) && f !== GHL_STAGE_FIELD;
  const absent = [KEY, ...target.fields.filter(custom)].filter((f) => !byName.has(f.toLowerCase()));
  if (absent.length)
    throw new ConfigError(
      `GoHighLevel location ${locationId} has no custom field ${absent.map((a) => `"${a}"`).join(', ')}; add ${absent.length > 1 ? 'them' : 'it'} under Settings → Custom Fields (${KEY} as a single-line text) or fix the sync's fields`,
    );
  const idToName = new Map(target.fields.filter(custom).map((f) => [byName.get(f.toLowerCase())!.id, f]));
  const readsStage = target.fields.includes(GHL_STAGE_FIELD);
  if (readsStage && target.lists.length === 0)
    throw new ConfigError(
      `${GHL_STAGE_FIELD} is the stage of the opportunity in the routed pipeline: add routing.list ("Pipeline/Stage")`,
    );
  const keyField = byName.get(KEY)!.id;
  const users = usersBody.parse(
    (await client.request({ method: 'GET', path: '/users/', query: { locationId } }, { idempotent: true }))
      .body,
  ).users;
  const userByEmail = new Map(users.filter((u) => u.email).map((u) => [u.email!.toLowerCase(), u.id]));
  const emailByUser = new Map(users.filter((u) => u.email).map((u) => [u.id, u.email!.toLowerCase()]));

  // routes: `Pipeline/Stage` → ids, resolved by name once (an unknown one names what exists)
  const stages = new Map<string, { pipelineId: string; stageId: string }>();
  const stageNames = new Map<string, string>();
  if (target.lists.length) {
    const { pipelines } = pipelinesBody.parse(
      (
        await client.request(
          { method: 'GET', path: '/opportunities/pipelines', query: { locationId } },
          { idempotent: true },
        )
      ).body,
    );
    for (const p of pipelines)
      for (const st of p.stages) {
        stages.set(`${p.name}/${st.name}`.toLowerCase(), { pipelineId: p.id, stageId: st.id });
        stageNames.set(st.id, st.name);
      }
    const unknown = target.lists.filter((l) => !stages.has(l.toLowerCase()));
    if (unknown.length)
      throw new ConfigError(
        `GoHighLevel location ${locationId} has no pipeline stage ${unknown.map((u) => `"${u}"`).join(', ')} (routing.list is "Pipeline/Stage"; it has: ${pipelines.flatMap((p) => p.stages.map((st) => `${p.name}/${st.name}`)).join(', ') || 'no pipelines'})`,
      );
  }

  /** The routed opportunity of a contact just created or matched (never moves a rep's stage). */
  async function placeOpportunity(row: RemoteWrite, got: Contact, isNew: boolean): Promise<void> {
    const place = row.route.list ? stages.get(row.route.list.toLowerCase()) : undefined;
    if (!place) return;
    if (!isNew) {
      // matched a contact that was already there (or our own, after a lost answer): keep its
      // opportunity in this pipeline if it has one
      const res = await client.request(
        {
          method: 'GET',
          path: '/opportunities/search',
          query: { location_id: locationId, contact_id: got.id, pipeline_id: place.pipelineId },
        },
        { idempotent: true },
      );
      if (opportunitySearch.parse(res.body).opportunities.some((o) => o.pipelineId === place.pipelineId))
        return;
    }
    const raw = got as Record<string, unknown>;
    const person = [raw.firstName, raw.lastName].filter((x) => typeof x === 'string' && x).join(' ');
    const company = typeof raw.companyName === 'string' ? raw.companyName : '';
    const name = [person || got.email || got.id, company].filter(Boolean).join(' | ');
    await client.request(
      {
        method: 'POST',
        path: '/opportunities/upsert',
        body: {
          locationId,
          contactId: got.id,
          pipelineId: place.pipelineId,
          pipelineStageId: place.stageId,
          name,
          status: 'open',
          ...(got.assignedTo ? { assignedTo: got.assignedTo } : {}),
        },
      },
      { idempotent: true },
    );
  }

  function body(
    row: RemoteWrite,
    create: boolean,
  ): { body: Record<string, unknown>; tags?: string[] } | string {
    const out: Record<string, unknown> = {};
    const customFields: { id: string; field_value: unknown }[] = [];
    let tags: string[] | undefined;
    for (const [name, value] of Object.entries(row.fields)) {
      if (name === 'tags') {
        tags = (Array.isArray(value) ? value : str(value).split(','))
          .map((t) => str(t).trim())
          .filter(Boolean);
        continue;
      }
      if (GHL_STANDARD.has(name)) {
        out[name] = value === null ? '' : str(value);
        continue;
      }
      const f = byName.get(name.toLowerCase())!;
      if (f.picklistOptions && value !== null && !f.picklistOptions.includes(str(value)))
        return `${name}: "${str(value)}" is not an option (options: ${f.picklistOptions.join(', ')}); add it in GoHighLevel or map the value`;
      customFields.push({
        id: f.id,
        field_value: Array.isArray(value) ? value : value === null ? '' : str(value),
      });
    }
    if (create) customFields.push({ id: keyField, field_value: row.key });
    if (customFields.length) out.customFields = customFields;
    if (row.route.owner) {
      const owner = userByEmail.get(row.route.owner.toLowerCase());
      if (!owner) return `no GoHighLevel user with email ${row.route.owner} in this location (owner routing)`;
      out.assignedTo = owner;
    }
    if (create && tags) out.tags = tags;
    return { body: out, ...(!create && tags ? { tags } : {}) };
  }

  /** What the answer says that differs from what we sent (GoHighLevel drops some values silently). */
  function dropped(sent: Record<string, unknown>, got: Contact): string | undefined {
    const phone = sent.phone;
    if (typeof phone === 'string' && phone && got.phone !== phone)
      return `GoHighLevel kept phone ${got.phone ?? '(none)'} instead of ${phone} (another contact holds it)`;
    return undefined;
  }

  async function writeOne(row: RemoteWrite): Promise<RowResult> {
    const create = !row.remoteId;
    const b = body(row, create);
    if (typeof b === 'string') return { key: row.key, status: 'permanent', error: b };
    if (create && !b.body.email && !b.body.phone)
      return {
        key: row.key,
        status: 'permanent',
        error: 'GoHighLevel upserts match by email or phone: a contact with neither cannot be created safely',
      };
    try {
      if (create) {
        const res = await client.request(
          { method: 'POST', path: '/contacts/upsert', body: { ...b.body, locationId } },
          { idempotent: true },
        );
        const answer = z.object({ contact: contactBody, new: z.boolean().optional() }).parse(res.body);
        const got = answer.contact;
        const warning = dropped(b.body, got);
        // the contact is written; a refused opportunity makes the row fail (retried with the
        // record: both upserts are idempotent, so nothing is made twice)
        await placeOpportunity(row, got, answer.new !== false);
        return { key: row.key, status: 'ok', remoteId: got.id, ...(warning ? { warning } : {}) };
      }
      const id = row.remoteId!;
      let warning: string | undefined;
      if (Object.keys(b.body).length) {
        const res = await client.request(
          { method: 'PUT', path: `/contacts/${encodeURIComponent(id)}`, body: b.body },
          { idempotent: true },
        );
        warning = dropped(b.body, z.object({ contact: contactBody }).parse(res.body).contact);
      }
      if (b.tags?.length)
        await client.request(
          { method: 'POST', path: `/contacts/${encodeURIComponent(id)}/tags`, body: { tags: b.tags } },
          { idempotent: true },
        );
      return { key: row.key, status: 'ok', remoteId: id, ...(warning ? { warning } : {}) };
    } catch (err) {
      // a refused record is this row's result; throttles, 5xx and auth stay the request's
      if (err instanceof CriticalError) return { key: row.key, status: 'permanent', error: err.message };
      throw err;
    }
  }

  function toRecord(c: Contact): RemoteRecord {
    const fields: RemoteRecord['fields'] = {};
    const raw = c as Record<string, unknown>;
    for (const f of target.fields) {
      if (!GHL_STANDARD.has(f)) continue;
      // tags in the form a definition writes them ("golf, high-end"): what we sent reads back equal
      // (no resend), and a rep's added tag reads as a difference once (tags are only added on updates)
      fields[f] = {
        value: f === 'tags' ? (c.tags ?? []).join(', ') || null : raw[f] === '' ? null : (raw[f] ?? null),
      };
    }
    fields.owner = { value: c.assignedTo ? (emailByUser.get(c.assignedTo) ?? c.assignedTo) : null };
    let key: string | undefined;
    for (const v of c.customFields ?? []) {
      if (v.id === keyField) key = typeof v.value === 'string' ? v.value : undefined;
      const name = idToName.get(v.id);
      if (name) fields[name] = { value: v.value === '' ? null : (v.value ?? null) };
    }
    return {
      remoteId: c.id,
      key,
      updatedAt: new Date(c.dateUpdated ?? c.dateAdded ?? 0),
      fields,
    };
  }

  /** The stage of the record's opportunity in a routed pipeline, with the opportunity's time. */
  async function readStage(rec: RemoteRecord): Promise<void> {
    const pipelinesRouted = new Set([...stages.values()].map((x) => x.pipelineId));
    const res = await client.request(
      {
        method: 'GET',
        path: '/opportunities/search',
        query: { location_id: locationId, contact_id: rec.remoteId },
      },
      { idempotent: true },
    );
    const opp = opportunitySearch
      .parse(res.body)
      .opportunities.find((o) => pipelinesRouted.has(o.pipelineId));
    const changedAt = opp?.updatedAt ? new Date(opp.updatedAt) : undefined;
    rec.fields[GHL_STAGE_FIELD] = {
      value: opp?.pipelineStageId ? (stageNames.get(opp.pipelineStageId) ?? null) : null,
      ...(changedAt ? { changedAt } : {}),
    };
  }

  return {
    batchSize: 1,
    createNeedsOutbox: false,
    naturalKey: 'email',
    async write(rows) {
      const out: RowResult[] = [];
      for (const row of rows) out.push(await writeOne(row));
      return out;
    },
    async archive(ids) {
      // GoHighLevel has no archive: mirror mode tags the contact instead of deleting it
      const out: RowResult[] = [];
      for (const id of ids) {
        try {
          await client.request(
            {
              method: 'POST',
              path: `/contacts/${encodeURIComponent(id)}/tags`,
              body: { tags: ['sluice-archived'] },
            },
            { idempotent: true },
          );
          out.push({ key: id, status: 'ok', remoteId: id });
        } catch (err) {
          if (
            !(err instanceof SluiceError) ||
            err.errorClass === 'infrastructure' ||
            err.errorClass === 'config'
          )
            throw err;
          out.push({
            key: id,
            status: err.errorClass === 'critical' ? 'permanent' : 'retryable',
            error: err.message,
          });
        }
      }
      return out;
    },
    async annotate(id, update) {
      const path = `/contacts/${encodeURIComponent(id)}`;
      // a note has no idempotency key: the caller records that it was made
      if (update.comment)
        await client.request({ method: 'POST', path: `${path}/notes`, body: { body: update.comment } });
      if (update.status) {
        // a contact has no status: the sync's stage field when it is a custom field, else a tag
        const f = update.statusField ? byName.get(update.statusField.toLowerCase()) : undefined;
        if (f) {
          if (f.picklistOptions && !f.picklistOptions.includes(update.status))
            throw new CriticalError(
              `gohighlevel: the note was added, but custom field ${f.name} has no option "${update.status}" (options: ${f.picklistOptions.join(', ')})`,
            );
          await client.request(
            { method: 'PUT', path, body: { customFields: [{ id: f.id, field_value: update.status }] } },
            { idempotent: true },
          );
        } else
          await client.request(
            { method: 'POST', path: `${path}/tags`, body: { tags: [update.status] } },
            { idempotent: true },
          );
      }
    },
    async findByKey(key) {
      const res = await client.request(
        {
          method: 'POST',
          path: '/contacts/search',
          body: {
            locationId,
            pageLimit: 1,
            filters: [{ field: `customFields.${keyField}`, operator: 'eq', value: key }],
          },
        },
        { idempotent: true },
      );
      return searchBody.parse(res.body).contacts.find((c) => toRecord(c).key === key)?.id;
    },
    async read(id) {
      try {
        const res = await client.request(
          { method: 'GET', path: `/contacts/${encodeURIComponent(id)}` },
          { idempotent: true },
        );
        const rec = toRecord(z.object({ contact: contactBody }).parse(res.body).contact);
        if (readsStage) await readStage(rec);
        return rec;
      } catch (err) {
        if (err instanceof CriticalError && /not found/i.test(err.message)) return undefined;
        throw err;
      }
    },
    async changes(since, cursor) {
      const res = await client.request(
        {
          method: 'POST',
          path: '/contacts/search',
          body: {
            locationId,
            pageLimit: 100,
            filters: [{ field: 'dateUpdated', operator: 'gt', value: since.toISOString() }],
            sort: [{ field: 'dateUpdated', direction: 'asc' }],
            ...(cursor ? { searchAfter: JSON.parse(cursor) } : {}),
          },
        },
        { idempotent: true },
      );
      const page = searchBody.parse(res.body).contacts;
      const last = page.at(-1)?.searchAfter;
      return {
        records: page.map(toRecord),
        ...(page.length === 100 && last ? { next: JSON.stringify(last) } : {}),
      };
    },
  };
}
