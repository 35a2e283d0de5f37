import { z } from 'zod';
import { ConfigError } from '../../errors.ts';
import type { DestinationClient, DestinationTarget } from '../define-destination.ts';
import type { ClickUpField } from './clickup-values.ts';

/**
 * Resolves names to ids once at the start of a sync: the workspace ("team"), each routed
 * `Folder/List` path, each list's custom fields (by name, with their dropdown options) and the
 * workspace's members (owners are routed by email). A name that does not resolve is a ConfigError
 * that says what exists.
 */
export interface ClickUpLayout {
  teamId: string;
  /** `Folder/List` path (lowercase) → list id. */
  lists: Map<string, string>;
  /** list id → field name (lowercase) → field. */
  fields: Map<string, Map<string, ClickUpField>>;
  /** member email (lowercase) → user id. */
  members: Map<string, number>;
  /** user id → email. */
  emails: Map<number, string>;
}

/** Task properties that are not custom fields. */
export const TASK_PROPERTIES = new Set(['name', 'description', 'status', 'priority', 'assignee', 'tags']);
export const KEY_FIELD = 'sluice_id';

const teamsBody = z.object({
  teams: z.array(
    z.object({
      id: z.union([z.string(), z.number()]),
      name: z.string().optional(),
      members: z
        .array(z.object({ user: z.object({ id: z.number(), email: z.string().nullable().optional() }) }))
        .optional(),
    }),
  ),
});
const spacesBody = z.object({ spaces: z.array(z.object({ id: z.string(), name: z.string() })) });
const foldersBody = z.object({
  folders: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      lists: z.array(z.object({ id: z.string(), name: z.string() })).optional(),
    }),
  ),
});
const fieldsBody = z.object({
  fields: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      type: z.string(),
      type_config: z
        .object({
          options: z
            .array(
              z.object({
                id: z.string(),
                name: z.string().optional(),
                label: z.string().optional(),
                orderindex: z.number().optional(),
              }),
            )
            .optional(),
        })
        .passthrough()
        .optional(),
    }),
  ),
});

function parse<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(body);
  if (!r.success)
    throw new ConfigError(`ClickUp answered ${what} with an unexpected body: ${r.error.issues[0]?.message}`);
  return r.data;
}

export async function resolveLayout(
  client: DestinationClient,
  target: DestinationTarget,
): Promise<ClickUpLayout> {
  const teams = parse(
    teamsBody,
    (await client.request({ method: 'GET', path: '/team' }, { idempotent: true })).body,
    'GET /team',
  ).teams;
  const wanted = client.env.CLICKUP_TEAM_ID;
  const team = wanted ? teams.find((t) => String(t.id) === wanted) : teams[0];
  if (!team)
    throw new ConfigError(
      `ClickUp workspace ${wanted ?? ''} not found for this token (check CLICKUP_TEAM_ID)`,
    );
  const teamId = String(team.id);
  const members = new Map<string, number>();
  const emails = new Map<number, string>();
  for (const m of team.members ?? []) {
    if (m.user.email) {
      members.set(m.user.email.toLowerCase(), m.user.id);
      emails.set(m.user.id, m.user.email.toLowerCase());
    }
  }
  const spaces = parse(
    spacesBody,
    (
      await client.request(
        { method: 'GET', path: `/team/${teamId}/space`, query: { archived: false } },
        { idempotent: true },
      )
    ).body,
    'GET /team/{id}/space',
  ).spaces;
  const lists = new Map<string, string>();
  const seen: string[] = [];
  for (const space of spaces) {
    const folders = parse(
      foldersBody,
      (
        await client.request(
          { method: 'GET', path: `/space/${space.id}/folder`, query: { archived: false } },
          { idempotent: true },
        )
      ).body,
      'GET /space/{id}/folder',
    ).folders;
    for (const f of folders) {
      for (const l of f.lists ?? []) {
        const path = `${f.name}/${l.name}`.toLowerCase();
        seen.push(`${f.name}/${l.name}`);
        if (!lists.has(path)) lists.set(path, l.id);
        lists.set(`${space.name}/${path}`.toLowerCase(), l.id);
      }
    }
    if (target.lists.every((p) => lists.has(p.toLowerCase()))) break;
  }
  const missing = target.lists.filter((p) => !lists.has(p.toLowerCase()));
  if (missing.length) {
    throw new ConfigError(
      `ClickUp has no list ${missing.map((m) => `"${m}"`).join(', ')} (lists found: ${seen.join(', ') || 'none'}); create it or fix the sync's routing`,
    );
  }
  const fields = new Map<string, Map<string, ClickUpField>>();
  for (const path of target.lists) {
    const listId = lists.get(path.toLowerCase())!;
    if (fields.has(listId)) continue;
    const body = parse(
      fieldsBody,
      (await client.request({ method: 'GET', path: `/list/${listId}/field` }, { idempotent: true })).body,
      'GET /list/{id}/field',
    );
    const byName = new Map(body.fields.map((f) => [f.name.toLowerCase(), f as ClickUpField]));
    const absent = [KEY_FIELD, ...target.fields.filter((f) => !TASK_PROPERTIES.has(f))].filter(
      (f) => !byName.has(f.toLowerCase()),
    );
    if (absent.length) {
      throw new ConfigError(
        `ClickUp list "${path}" has no custom field ${absent.map((a) => `"${a}"`).join(', ')}; add ${absent.length > 1 ? 'them' : 'it'} to the list (${KEY_FIELD} as short text) or fix the sync's fields`,
      );
    }
    fields.set(listId, byName);
  }
  return { teamId, lists, fields, members, emails };
}
