import { z } from 'zod';
import { NotFoundError, SluiceError } from '../../errors.ts';
import type {
  DestinationClient,
  DestinationSession,
  RemoteRecord,
  RemoteRoute,
  RemoteWrite,
  RowResult,
} from '../define-destination.ts';
import { type ClickUpLayout, KEY_FIELD, TASK_PROPERTIES } from './clickup-layout.ts';
import { fromClickUp, toClickUp } from './clickup-values.ts';

const taskBody = z.object({
  id: z.string(),
  name: z.string(),
  markdown_description: z.string().nullable().optional(),
  description: z.string().nullable().optional(),
  date_updated: z.string(),
  archived: z.boolean().optional(),
  status: z.object({ status: z.string() }).nullable().optional(),
  assignees: z.array(z.object({ id: z.number(), email: z.string().nullable().optional() })).optional(),
  list: z.object({ id: z.string() }),
  custom_fields: z
    .array(z.object({ id: z.string(), name: z.string(), value: z.unknown().optional() }))
    .optional(),
});
const tasksBody = z.object({ tasks: z.array(taskBody), last_page: z.boolean().optional() });
type Task = z.infer<typeof taskBody>;

/** One task per request (ClickUp has no batch create); creates are not idempotent. */
export function createClickUpSession(client: DestinationClient, layout: ClickUpLayout): DestinationSession {
  const listIds = [...new Set(layout.lists.values())].filter((id) => layout.fields.has(id));
  const listOf = (route: RemoteRoute) =>
    route.list ? layout.lists.get(route.list.toLowerCase()) : listIds[0];
  const keyField = (listId: string) => layout.fields.get(listId)!.get(KEY_FIELD)!;

  function customFields(listId: string, fields: Record<string, unknown>) {
    const out: { id: string; value: unknown; clear: boolean }[] = [];
    for (const [name, value] of Object.entries(fields)) {
      if (TASK_PROPERTIES.has(name)) continue;
      const field = layout.fields.get(listId)?.get(name.toLowerCase());
      if (!field) return { error: `no custom field "${name}" in the routed list` };
      const c = toClickUp(field, value);
      if (!c.ok) return { error: c.error };
      out.push({ id: field.id, value: c.value, clear: c.value === null });
    }
    return { fields: out };
  }

  async function writeOne(row: RemoteWrite): Promise<RowResult> {
    const listId = listOf(row.route);
    if (!listId) return { key: row.key, status: 'permanent', error: `no ClickUp list "${row.route.list}"` };
    const cf = customFields(listId, row.fields);
    if ('error' in cf) return { key: row.key, status: 'permanent', error: cf.error ?? 'bad field' };
    const owner = row.route.owner ? layout.members.get(row.route.owner.toLowerCase()) : undefined;
    const props: Record<string, unknown> = {};
    if ('name' in row.fields) props.name = row.fields.name ?? '';
    if ('description' in row.fields) props.markdown_description = row.fields.description ?? '';
    if ('status' in row.fields && row.fields.status !== null) props.status = row.fields.status;
    if (!row.remoteId) {
      const res = await client.request({
        method: 'POST',
        path: `/list/${listId}/task`,
        body: {
          ...props,
          assignees: owner !== undefined ? [owner] : [],
          custom_fields: [
            { id: keyField(listId).id, value: row.key },
            ...cf.fields.filter((f) => !f.clear).map((f) => ({ id: f.id, value: f.value })),
          ],
        },
      });
      const task = taskBody.safeParse(res.body);
      if (!task.success)
        return {
          key: row.key,
          status: 'retryable',
          error: 'ClickUp created a task but its answer had no id',
        };
      return { key: row.key, status: 'ok', remoteId: task.data.id };
    }
    const id = row.remoteId;
    try {
      if (Object.keys(props).length || owner !== undefined) {
        const body = { ...props, ...(owner !== undefined ? { assignees: { add: [owner], rem: [] } } : {}) };
        await client.request({ method: 'PUT', path: `/task/${id}`, body }, { idempotent: true });
      }
      for (const f of cf.fields) {
        if (f.clear)
          await client.request({ method: 'DELETE', path: `/task/${id}/field/${f.id}` }, { idempotent: true });
        else
          await client.request(
            { method: 'POST', path: `/task/${id}/field/${f.id}`, body: { value: f.value } },
            { idempotent: true },
          );
      }
    } catch (err) {
      if (err instanceof NotFoundError)
        return { key: row.key, status: 'permanent', error: `ClickUp task ${id} no longer exists` };
      throw err;
    }
    return { key: row.key, status: 'ok', remoteId: id };
  }

  function toRecord(t: Task): RemoteRecord {
    const fields: RemoteRecord['fields'] = {
      name: { value: t.name },
      description: { value: t.markdown_description ?? t.description ?? null },
      status: { value: t.status?.status ?? null },
      assignee: {
        value: t.assignees?.[0]
          ? (layout.emails.get(t.assignees[0].id) ?? t.assignees[0].email ?? null)
          : null,
      },
    };
    let key: string | undefined;
    const defs = layout.fields.get(t.list.id);
    for (const cf of t.custom_fields ?? []) {
      const def = defs?.get(cf.name.toLowerCase());
      const value = def ? fromClickUp(def, cf.value) : (cf.value ?? null);
      if (cf.name.toLowerCase() === KEY_FIELD) key = typeof value === 'string' ? value : undefined;
      else fields[cf.name] = { value };
    }
    return {
      remoteId: t.id,
      key,
      updatedAt: new Date(Number(t.date_updated)),
      fields,
      archived: t.archived ?? false,
    };
  }

  return {
    batchSize: 1,
    createNeedsOutbox: true,
    naturalKey: undefined,
    async write(rows) {
      const out: RowResult[] = [];
      for (const row of rows) out.push(await writeOne(row));
      return out;
    },
    async archive(ids) {
      const out: RowResult[] = [];
      for (const id of ids) {
        try {
          await client.request(
            { method: 'PUT', path: `/task/${id}`, body: { archived: true } },
            { idempotent: true },
          );
          out.push({ key: id, status: 'ok', remoteId: id });
        } catch (err) {
          if (!(err instanceof SluiceError) || err.errorClass === 'infrastructure') throw err;
          out.push({
            key: id,
            status:
              err.errorClass === 'retryable' || err.errorClass === 'throttled' ? 'retryable' : 'permanent',
            error: err.message,
          });
        }
      }
      return out;
    },
    async findByKey(key, route) {
      const first = listOf(route);
      for (const listId of [...(first ? [first] : []), ...listIds.filter((l) => l !== first)]) {
        const filter = [{ field_id: keyField(listId).id, operator: '==', value: key }];
        const res = await client.request(
          {
            method: 'GET',
            path: `/list/${listId}/task`,
            query: { custom_fields: JSON.stringify(filter), include_closed: true, archived: false },
          },
          { idempotent: true },
        );
        const tasks = tasksBody
          .parse(res.body)
          .tasks.map(toRecord)
          .filter((t) => t.key === key);
        if (tasks[0]) return tasks[0].remoteId;
      }
      return undefined;
    },
    async annotate(id, update) {
      if (update.status)
        await client.request(
          { method: 'PUT', path: `/task/${id}`, body: { status: update.status } },
          { idempotent: true },
        );
      // a comment has no idempotency key; the caller records that it was made (outreach_contact_state)
      if (update.comment)
        await client.request({
          method: 'POST',
          path: `/task/${id}/comment`,
          body: { comment_text: update.comment, notify_all: true },
        });
    },
    async read(id) {
      try {
        const res = await client.request(
          { method: 'GET', path: `/task/${id}`, query: { include_markdown_description: true } },
          { idempotent: true },
        );
        return toRecord(taskBody.parse(res.body));
      } catch (err) {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      }
    },
    async changes(since, cursor) {
      const at = cursor ? (JSON.parse(cursor) as { list: number; page: number }) : { list: 0, page: 0 };
      const listId = listIds[at.list];
      if (!listId) return { records: [] };
      const res = await client.request(
        {
          method: 'GET',
          path: `/list/${listId}/task`,
          query: {
            date_updated_gt: since.getTime(),
            order_by: 'updated',
            reverse: true,
            include_closed: true,
            include_markdown_description: true,
            page: at.page,
          },
        },
        { idempotent: true },
      );
      const body = tasksBody.parse(res.body);
      const records = body.tasks.map(toRecord).sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime());
      const next =
        body.last_page === false && body.tasks.length > 0
          ? { list: at.list, page: at.page + 1 }
          : { list: at.list + 1, page: 0 };
      return { records, ...(listIds[next.list] ? { next: JSON.stringify(next) } : {}) };
    },
  };
}
