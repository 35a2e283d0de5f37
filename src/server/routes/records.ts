import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { selectAccountsSql } from '../../engine/selection.ts';
import type { ImportKind } from '../../import/header-map.ts';
import { upsertRecords } from '../../import/upsert-records.ts';
import {
  normalizeDomain,
  normalizeLinkedInUrl,
  normalizePhone,
  normalizeWebsite,
  parseEmail,
} from '../../normalize/index.ts';
import { contactFilterSql } from '../../records/contact-filter.ts';
import { writeFieldValues } from '../../records/field-values.ts';
import { readLineage } from '../../records/lineage.ts';
import { flattenRow, readRecord } from '../../records/read-records.ts';
import { ENTITY_TABLE, type EntityType } from '../../records/record-fields.ts';
import { timed } from '../http-metrics.ts';
import { ApiProblem, notFound, problemResponses } from '../problem.ts';
import type { ServerEnv } from '../server-env.ts';
import { decodeCursor, encodeCursor, ListQuery } from './list-query.ts';

const RecordSchema = z.record(z.string(), z.unknown()).openapi('Record', {
  description: 'current values: columns and attributes flattened into one object',
  example: { id: 1, name: 'Richmond Country Club', state: 'VA', domain: 'richmondcountryclubva.com' },
});
const IdParam = z.object({
  id: z.coerce
    .number()
    .int()
    .positive()
    .openapi({ param: { name: 'id', in: 'path' }, example: 1 }),
});
const LineageSchema = z
  .array(
    z.object({
      field: z.string(),
      why: z.string(),
      values: z.array(z.record(z.string(), z.unknown())),
    }),
  )
  .openapi('Lineage');

/** Manual edits are normalized like imports; a value that does not parse is refused, not stored raw. */
function normalizeManual(field: string, value: unknown): unknown {
  if (value === null || typeof value !== 'string') return value;
  const check = (v: string | undefined, what: string) => {
    if (v === undefined)
      throw new ApiProblem(
        422,
        'Unprocessable Content',
        `${field}: ${JSON.stringify(value)} is not a valid ${what}`,
        { slug: 'invalid-value', extra: { errors: [{ path: field, message: `not a valid ${what}` }] } },
      );
    return v;
  };
  if (field === 'email') {
    const e = parseEmail(value);
    return check(e.ok ? e.email : undefined, 'email address');
  }
  if (field === 'phone') return check(normalizePhone(value), 'phone number');
  if (field === 'domain') return check(normalizeDomain(value), 'domain');
  if (field === 'website') return check(normalizeWebsite(value), 'website');
  if (field === 'linkedin_url') return check(normalizeLinkedInUrl(value), 'LinkedIn URL');
  return value;
}

/** accounts and contacts: upsert (the import's dedupe), get, manual update, keyset list, lineage. */
export function registerRecordRoutes(app: OpenAPIHono<ServerEnv>, type: EntityType): void {
  const plural = ENTITY_TABLE[type];
  const kind: ImportKind = plural;
  const tag = plural;

  app.openapi(
    createRoute({
      method: 'post',
      path: `/v1/${plural}`,
      tags: [tag],
      summary: `create or merge ${type === 'account' ? 'an account' : 'a contact'} (same normalization and dedupe as import)`,
      request: { body: { required: true, content: { 'application/json': { schema: RecordSchema } } } },
      responses: {
        200: {
          description: 'merged into an existing record, or unchanged',
          content: {
            'application/json': {
              schema: z.object({ id: z.number(), outcome: z.string(), record: RecordSchema }),
            },
          },
        },
        201: {
          description: 'created',
          content: {
            'application/json': {
              schema: z.object({ id: z.number(), outcome: z.string(), record: RecordSchema }),
            },
          },
        },
        ...problemResponses(400, 422),
      },
    }),
    async (c) => {
      const { db } = c.get('services');
      const [r] = await upsertRecords(db, kind, [c.req.valid('json')], { source: 'api' });
      if (!r || 'error' in r)
        throw new ApiProblem(422, 'Unprocessable Content', r?.error ?? 'nothing to write', {
          slug: 'rejected',
        });
      const record = (await readRecord(db, type, r.id)) ?? { id: r.id };
      return c.json({ id: r.id, outcome: r.outcome, record }, r.outcome === 'inserted' ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: `/v1/${plural}/{id}`,
      tags: [tag],
      summary: `one ${type}: its current values`,
      request: { params: IdParam },
      responses: {
        200: { description: 'the record', content: { 'application/json': { schema: RecordSchema } } },
        ...problemResponses(404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const record = await timed(c, 'db', readRecord(c.get('services').db, type, id));
      if (!record) throw notFound(`${type} ${id}`);
      return c.json(record, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: `/v1/${plural}/{id}`,
      tags: [tag],
      summary: `edit fields by hand: recorded with source "manual", which beats every other source`,
      request: {
        params: IdParam,
        body: { required: true, content: { 'application/json': { schema: RecordSchema } } },
      },
      responses: {
        200: {
          description: 'the record after the edit',
          content: { 'application/json': { schema: RecordSchema } },
        },
        ...problemResponses(400, 404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { db } = c.get('services');
      const body = c.req.valid('json');
      const record = await db.transaction(async (tx) => {
        const exists = await tx.query(`SELECT 1 FROM ${plural} WHERE id = $1 FOR UPDATE`, [id]);
        if (exists.rows.length === 0) throw notFound(`${type} ${id}`);
        await writeFieldValues(
          tx,
          Object.entries(body).map(([field, value]) => ({
            entityType: type,
            entityId: id,
            field,
            value: normalizeManual(field, value),
            source: 'manual' as const,
          })),
        );
        return readRecord(tx, type, id);
      });
      return c.json(record ?? { id }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: `/v1/${plural}`,
      tags: [tag],
      summary: `list ${plural}, filtered with the --where grammar, by keyset cursor`,
      request: { query: ListQuery },
      responses: {
        200: {
          description: 'a page',
          content: {
            'application/json': {
              schema: z.object({
                data: z.array(RecordSchema),
                next_cursor: z.string().nullable(),
                has_more: z.boolean(),
              }),
            },
          },
        },
        ...problemResponses(400),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const after = q.cursor ? decodeCursor(q.cursor) : 0;
      const params: unknown[] = [after, q.limit + 1];
      let filter: string;
      if (type === 'account') {
        const sel = selectAccountsSql(q.where ? { where: q.where } : {}, 3);
        params.push(...sel.params);
        filter = q.where ? `AND id IN (${sel.text})` : '';
      } else {
        const clauses = contactFilterSql(q.where, params);
        filter = clauses.map((cl) => `AND ${cl}`).join(' ');
      }
      const r = await c
        .get('services')
        .db.query<Record<string, unknown> & { id: number }>(
          `SELECT * FROM ${plural} WHERE id > $1 ${filter} ORDER BY id LIMIT $2`,
          params,
        );
      const rows = r.rows.slice(0, q.limit).map(flattenRow);
      const hasMore = r.rows.length > q.limit;
      return c.json(
        {
          data: rows,
          next_cursor: hasMore ? encodeCursor(rows[rows.length - 1]!.id) : null,
          has_more: hasMore,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: `/v1/${plural}/{id}/lineage`,
      tags: [tag],
      summary:
        'every value ever observed for each field, with provenance; the current one first, and why it wins',
      request: { params: IdParam },
      responses: {
        200: { description: 'lineage by field', content: { 'application/json': { schema: LineageSchema } } },
        ...problemResponses(404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { db } = c.get('services');
      if (!(await readRecord(db, type, id))) throw notFound(`${type} ${id}`);
      return c.json(await readLineage(db, type, id), 200);
    },
  );
}
