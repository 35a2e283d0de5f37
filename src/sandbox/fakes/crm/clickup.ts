import { createHmac } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { clickUpWorkspace, type FakeField, type FakeList, SANDBOX_REPS } from './clickup-workspace.ts';
import {
  type CrmFakeStats,
  type CrmFaults,
  deliver,
  idMaker,
  newStats,
  noFaults,
  RollingWindow,
  routeKey,
  type WebhookTarget,
} from './crm-kit.ts';

/**
 * Fake ClickUp API v2 (docs/provider-apis.md §3): personal-token auth without "Bearer", 100 requests
 * per minute per token (429 with X-RateLimit-Reset in Unix seconds), tasks in lists with custom fields
 * (a dropdown is set by option UUID and read back as its orderindex), `=` as a fuzzy contains and `==`
 * as exact in custom-field filters, timestamps as strings of epoch ms, and signed webhooks (X-Signature
 * = hex HMAC-SHA256 of the raw body) for every task change, ours included: ClickUp does not say who.
 */
export interface FakeTask {
  id: string;
  name: string;
  markdown_description: string;
  status: string;
  assignees: number[];
  listId: string;
  custom: Map<string, unknown>;
  archived: boolean;
  date_created: number;
  date_updated: number;
  /** Comments (`POST /task/{id}/comment`), oldest first. */
  comments?: { id: string; comment_text: string; date: number }[];
}

export interface ClickUpFake {
  app: Hono;
  apiKey: string;
  teamId: string;
  stats: CrmFakeStats;
  faults: CrmFaults;
  tasks: Map<string, FakeTask>;
  lists: FakeList[];
  window: RollingWindow;
  /** A rep edits a task in ClickUp's UI: the change is stored and a signed webhook goes out. */
  repEdit(taskId: string, changes: Record<string, unknown>, repEmail?: string): Promise<void>;
  /** Tasks of a list path (`High-End Clubs/New Leads`), for demos and tests. */
  tasksIn(path: string): FakeTask[];
  /** Resolves when every webhook sent so far has been answered. */
  settled(): Promise<void>;
  /** The workspace's tasks as JSON (the demo keeps them between runs). */
  saveState(): unknown;
  /** Puts saved tasks back (webhook subscriptions are not kept: their endpoints change). */
  restoreState(state: unknown): void;
}

export interface ClickUpFakeOptions {
  apiKey?: string;
  /** Requests per minute per token. Default 100 (Free, Unlimited, Business). */
  perMinute?: number;
  /** Added to every answer, ms. Default 0. */
  latencyMs?: number;
}

const err = (c: Context, status: number, text: string, code: string) =>
  c.json({ err: text, ECODE: code }, status as 400);

export function createClickUpFake(options: ClickUpFakeOptions = {}): ClickUpFake {
  const apiKey = options.apiKey ?? 'pk_sandbox_clickup';
  const { team, space, lists } = clickUpWorkspace();
  const stats = newStats();
  const faults = noFaults();
  const window = new RollingWindow(options.perMinute ?? 100, 60_000);
  const tasks = new Map<string, FakeTask>();
  const hooks = new Map<string, WebhookTarget>();
  const nextTask = idMaker('86');
  const nextHook = idMaker('wh');
  // unique across fake instances (a restarted sandbox must not reuse ids: they are dedupe keys)
  let historyId = 2_800_000_000_000_000_000n + BigInt(Date.now()) * 1_000n;
  const inFlight = new Set<Promise<unknown>>();
  const app = new Hono();
  const listById = (id: string) => lists.find((l) => l.id === id);

  app.use('*', async (c, next) => {
    stats.requests++;
    const route = routeKey(c.req.method, c.req.url);
    stats.byRoute[route] = (stats.byRoute[route] ?? 0) + 1;
    const auth = c.req.header('authorization');
    if (!auth) return err(c, 401, 'Authorization header required', 'OAUTH_017');
    if (auth !== apiKey) return err(c, 401, 'Token invalid', 'OAUTH_025');
    const w = window.take();
    const reset = String(Math.ceil((Date.now() + w.resetMs) / 1000));
    c.header('X-RateLimit-Limit', String(window.limit));
    c.header('X-RateLimit-Remaining', String(w.remaining));
    c.header('X-RateLimit-Reset', reset);
    if (!w.allowed) {
      stats.throttled++;
      return err(c, 429, 'Rate limit reached', 'APP_002');
    }
    stats.arrivals.push(Date.now());
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    if (faults.failWith) return err(c, faults.failWith, 'Internal server error', 'INTERNAL_001');
    await next();
  });

  const fieldJson = (f: FakeField) => ({
    id: f.id,
    name: f.name,
    type: f.type,
    type_config: f.options ? { default: 0, placeholder: null, new_drop_down: true, options: f.options } : {},
    date_created: '1721255608025',
    hide_from_guests: false,
    required: false,
  });
  const taskJson = (t: FakeTask) => {
    const list = listById(t.listId)!;
    return {
      id: t.id,
      custom_id: null,
      name: t.name,
      text_content: t.markdown_description.replace(/[#*_`>]/g, ''),
      description: t.markdown_description.replace(/[#*_`>]/g, ''),
      markdown_description: t.markdown_description,
      status: { id: 'sc1', status: t.status, color: '#d3d3d3', orderindex: 0, type: 'open' },
      orderindex: '1.0',
      date_created: String(t.date_created),
      date_updated: String(t.date_updated),
      date_closed: null,
      archived: t.archived,
      creator: { id: 183, username: 'Sluice', email: 'api@sandbox.test' },
      assignees: t.assignees.map((id) => ({
        id,
        email: SANDBOX_REPS.find((r) => r.id === id)?.email ?? null,
      })),
      tags: [],
      custom_fields: list.fields.map((f) => ({
        ...fieldJson(f),
        ...(t.custom.has(f.id) ? { value: t.custom.get(f.id) } : {}),
      })),
      team_id: team.id,
      url: `https://app.clickup.com/t/${t.id}`,
      list: { id: list.id },
      folder: { id: list.folderId },
      space: { id: space.id },
    };
  };

  /** Stores a custom-field value the way ClickUp does: a dropdown keeps the option's orderindex. */
  function setCustom(t: FakeTask, f: FakeField, value: unknown): string | undefined {
    if (f.type === 'drop_down') {
      const o = f.options?.find((x) => x.id === value);
      if (!o) return `Value must be an option UUID of field ${f.name}`;
      t.custom.set(f.id, o.orderindex);
    } else if (f.type === 'number') {
      if (typeof value !== 'number') return `Value must be a number`;
      t.custom.set(f.id, String(value));
    } else if (
      f.type === 'email' &&
      (typeof value !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value))
    ) {
      return 'Value is not a valid email';
    } else t.custom.set(f.id, value);
    return undefined;
  }

  function notify(
    t: FakeTask,
    items: { field: string; before: unknown; after: unknown; custom?: FakeField }[],
    userId: number,
    event = 'taskUpdated',
  ) {
    const user = SANDBOX_REPS.find((r) => r.id === userId) ?? {
      id: userId,
      username: 'Sluice',
      email: 'api@sandbox.test',
    };
    for (const hook of hooks.values()) {
      if (!hook.events.includes(event) && !hook.events.includes('*')) continue;
      const body = JSON.stringify({
        event,
        task_id: t.id,
        webhook_id: hook.id,
        history_items: items.map((i) => ({
          id: String(historyId++),
          type: 1,
          date: String(t.date_updated),
          field: i.custom ? 'custom_field' : i.field,
          parent_id: t.listId,
          data: {},
          source: null,
          user: {
            id: user.id,
            username: user.username,
            email: user.email,
            color: '#7b68ee',
            initials: 'R',
            profilePicture: null,
          },
          before: i.before ?? null,
          after: i.after ?? null,
          ...(i.custom ? { custom_field: fieldJson(i.custom) } : {}),
        })),
      });
      const signature = createHmac('sha256', hook.secret).update(body).digest('hex');
      const p = deliver(hook, body, { 'x-signature': signature }, stats);
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  }

  app.get('/team', (c) => c.json({ teams: [team] }));
  app.get('/team/:teamId/space', (c) =>
    c.req.param('teamId') === team.id
      ? c.json({ spaces: [{ id: space.id, name: space.name, private: false }] })
      : err(c, 401, 'Team not authorized', 'OAUTH_027'),
  );
  app.get('/space/:spaceId/folder', (c) => {
    if (c.req.param('spaceId') !== space.id) return err(c, 404, 'Space not found', 'CAT_001');
    const folders = [...new Set(lists.map((l) => l.folderId))].map((fid) => {
      const ls = lists.filter((l) => l.folderId === fid);
      return {
        id: fid,
        name: ls[0]!.folderName,
        hidden: false,
        space: { id: space.id },
        lists: ls.map((l) => ({ id: l.id, name: l.name })),
      };
    });
    return c.json({ folders });
  });
  app.get('/list/:listId/field', (c) => {
    const list = listById(c.req.param('listId'));
    return list ? c.json({ fields: list.fields.map(fieldJson) }) : err(c, 404, 'List not found', 'ITEM_015');
  });

  app.post('/list/:listId/task', async (c) => {
    const list = listById(c.req.param('listId'));
    if (!list) return err(c, 404, 'List not found', 'ITEM_015');
    const body = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    if (!body || typeof body.name !== 'string' || body.name.trim() === '')
      return err(c, 400, 'Task name invalid', 'INPUT_005');
    const now = Date.now();
    let id = nextTask();
    while (tasks.has(id)) id = nextTask(); // restored tasks keep their ids
    const t: FakeTask = {
      id,
      name: body.name,
      markdown_description: String(body.markdown_description ?? body.description ?? ''),
      status: typeof body.status === 'string' ? body.status : 'to do',
      assignees: Array.isArray(body.assignees) ? (body.assignees as number[]) : [],
      listId: list.id,
      custom: new Map(),
      archived: false,
      date_created: now,
      date_updated: now,
    };
    for (const cf of (body.custom_fields as { id: string; value: unknown }[] | undefined) ?? []) {
      const f = list.fields.find((x) => x.id === cf.id);
      if (!f) return err(c, 400, `Custom field ${cf.id} is not on this list`, 'FIELD_033');
      const bad = setCustom(t, f, cf.value);
      if (bad) return err(c, 400, bad, 'FIELD_010');
    }
    tasks.set(t.id, t);
    notify(
      t,
      [
        { field: 'status', before: null, after: t.status },
        { field: 'task_creation', before: null, after: null },
      ],
      183,
      'taskCreated',
    );
    if (faults.loseCreateAnswers > 0) {
      faults.loseCreateAnswers--;
      return err(c, 502, 'Bad gateway', 'GW_001');
    }
    return c.json(taskJson(t));
  });

  app.get('/list/:listId/task', (c) => {
    const list = listById(c.req.param('listId'));
    if (!list) return err(c, 404, 'List not found', 'ITEM_015');
    let found = [...tasks.values()].filter(
      (t) => t.listId === list.id && t.archived === (c.req.query('archived') === 'true'),
    );
    const since = Number(c.req.query('date_updated_gt') ?? Number.NaN);
    if (Number.isFinite(since)) found = found.filter((t) => t.date_updated > since);
    const filters = c.req.query('custom_fields');
    if (filters) {
      let parsed: { field_id: string; operator: string; value: unknown }[];
      try {
        parsed = JSON.parse(filters);
      } catch {
        return err(c, 400, 'custom_fields must be a JSON array', 'INPUT_003');
      }
      for (const f of parsed) {
        const want = String(f.value).toLowerCase();
        found = found.filter((t) => {
          const v = String(t.custom.get(f.field_id) ?? '').toLowerCase();
          // `=` is a fuzzy contains in ClickUp, `==` is exact
          return f.operator === '==' ? v === want : f.operator === '=' ? v.includes(want) : false;
        });
      }
    }
    found.sort((a, b) =>
      c.req.query('reverse') === 'true' ? a.date_updated - b.date_updated : b.date_updated - a.date_updated,
    );
    const page = Number(c.req.query('page') ?? 0);
    const slice = found.slice(page * 100, page * 100 + 100);
    return c.json({ tasks: slice.map(taskJson), last_page: page * 100 + 100 >= found.length });
  });

  app.get('/task/:taskId', (c) => {
    const t = tasks.get(c.req.param('taskId'));
    return t ? c.json(taskJson(t)) : err(c, 404, 'Task not found', 'ITEM_013');
  });

  app.put('/task/:taskId', async (c) => {
    const t = tasks.get(c.req.param('taskId'));
    if (!t) return err(c, 404, 'Task not found', 'ITEM_013');
    const body = ((await c.req.json().catch(() => null)) ?? {}) as Record<string, unknown>;
    const items: { field: string; before: unknown; after: unknown }[] = [];
    const set = (field: string, key: keyof FakeTask, value: unknown) => {
      if (value === undefined || t[key] === value) return;
      items.push({ field, before: t[key], after: value });
      (t as unknown as Record<string, unknown>)[key] = value;
    };
    set('name', 'name', body.name);
    set('content', 'markdown_description', body.markdown_description ?? body.description);
    set('status', 'status', body.status);
    set('archived', 'archived', body.archived);
    const a = body.assignees as { add?: number[]; rem?: number[] } | undefined;
    if (a) {
      const next = [...new Set([...t.assignees.filter((x) => !(a.rem ?? []).includes(x)), ...(a.add ?? [])])];
      if (next.join() !== t.assignees.join()) {
        items.push({ field: 'assignee_add', before: null, after: next[0] ?? null });
        t.assignees = next;
      }
    }
    if (items.length) {
      t.date_updated = Date.now();
      notify(t, items, 183);
    }
    return c.json(taskJson(t));
  });

  const fieldRoute = async (c: Context, clear: boolean) => {
    const t = tasks.get(c.req.param('taskId') ?? '');
    if (!t) return err(c, 404, 'Task not found', 'ITEM_013');
    const f = listById(t.listId)!.fields.find((x) => x.id === c.req.param('fieldId'));
    if (!f) return err(c, 400, 'Custom field not found on this task', 'FIELD_033');
    const before = t.custom.get(f.id);
    if (clear) t.custom.delete(f.id);
    else {
      const body = ((await c.req.json().catch(() => null)) ?? {}) as { value?: unknown };
      const bad = setCustom(t, f, body.value);
      if (bad) return err(c, 400, bad, 'FIELD_010');
    }
    if (before !== t.custom.get(f.id)) {
      t.date_updated = Date.now();
      notify(t, [{ field: f.name, before, after: t.custom.get(f.id), custom: f }], 183);
    }
    return c.json({});
  };
  // comments: `{comment_text, assignee?, notify_all}` → `{id, hist_id, date}` (date as epoch ms)
  app.post('/task/:taskId/comment', async (c) => {
    const t = tasks.get(c.req.param('taskId'));
    if (!t) return err(c, 404, 'Task not found', 'ITEM_013');
    const body = ((await c.req.json().catch(() => null)) ?? {}) as { comment_text?: unknown };
    if (typeof body.comment_text !== 'string' || !body.comment_text.trim())
      return err(c, 400, 'Comment text required', 'COMM_002');
    const comment = { id: nextTask(), comment_text: body.comment_text, date: Date.now() };
    t.comments = [...(t.comments ?? []), comment];
    return c.json({ id: comment.id, hist_id: nextTask(), date: comment.date });
  });
  app.get('/task/:taskId/comment', (c) => {
    const t = tasks.get(c.req.param('taskId'));
    if (!t) return err(c, 404, 'Task not found', 'ITEM_013');
    return c.json({
      comments: (t.comments ?? []).map((x) => ({
        ...x,
        date: String(x.date),
        comment: [{ text: x.comment_text }],
      })),
    });
  });
  app.post('/task/:taskId/field/:fieldId', (c) => fieldRoute(c, false));
  app.delete('/task/:taskId/field/:fieldId', (c) => fieldRoute(c, true));

  app.post('/team/:teamId/webhook', async (c) => {
    const body = ((await c.req.json().catch(() => null)) ?? {}) as { endpoint?: string; events?: string[] };
    if (!body.endpoint) return err(c, 400, 'Endpoint required', 'WH_001');
    if ([...hooks.values()].some((h) => h.endpoint === body.endpoint))
      return err(c, 400, 'Webhook already exists', 'OAUTH_171');
    const hook: WebhookTarget = {
      id: nextHook(),
      endpoint: body.endpoint,
      secret: `whsec${nextHook()}${nextHook()}`,
      events: body.events ?? ['*'],
    };
    hooks.set(hook.id, hook);
    return c.json({
      id: hook.id,
      webhook: {
        id: hook.id,
        userid: 183,
        team_id: team.id,
        endpoint: hook.endpoint,
        client_id: 'sandbox',
        events: hook.events,
        task_id: null,
        list_id: null,
        folder_id: null,
        space_id: null,
        health: { status: 'active', fail_count: 0 },
        secret: hook.secret,
      },
    });
  });
  app.get('/team/:teamId/webhook', (c) =>
    c.json({
      webhooks: [...hooks.values()].map((h) => ({ id: h.id, endpoint: h.endpoint, events: h.events })),
    }),
  );
  app.delete('/webhook/:id', (c) =>
    hooks.delete(c.req.param('id')) ? c.json({}) : err(c, 404, 'Webhook not found', 'WH_404'),
  );

  return {
    app,
    apiKey,
    teamId: team.id,
    stats,
    faults,
    tasks,
    lists,
    window,
    async repEdit(taskId, changes, repEmail = SANDBOX_REPS[0]!.email) {
      const t = tasks.get(taskId);
      if (!t) throw new Error(`no task ${taskId}`);
      const rep = SANDBOX_REPS.find((r) => r.email === repEmail) ?? SANDBOX_REPS[0]!;
      const list = listById(t.listId)!;
      const items: { field: string; before: unknown; after: unknown; custom?: FakeField }[] = [];
      for (const [name, value] of Object.entries(changes)) {
        const f = list.fields.find((x) => x.name.toLowerCase() === name.toLowerCase());
        if (f) {
          const before = t.custom.get(f.id);
          const option = f.options?.find((o) => o.name.toLowerCase() === String(value).toLowerCase());
          setCustom(t, f, option ? option.id : value);
          items.push({ field: f.name, before, after: t.custom.get(f.id), custom: f });
        } else if (name === 'name' || name === 'status') {
          items.push({ field: name, before: t[name], after: value });
          t[name] = String(value);
        }
      }
      t.date_updated = Date.now();
      notify(t, items, rep.id);
    },
    tasksIn(path) {
      const [folder, name] = path.split('/');
      const list = lists.find((l) => l.folderName === folder && l.name === name);
      return list ? [...tasks.values()].filter((t) => t.listId === list.id && !t.archived) : [];
    },
    async settled() {
      while (inFlight.size) await Promise.all([...inFlight]);
    },
    saveState() {
      return { tasks: [...tasks.values()].map((t) => ({ ...t, custom: [...t.custom] })) };
    },
    restoreState(state) {
      const saved = (state as { tasks?: (Omit<FakeTask, 'custom'> & { custom: [string, unknown][] })[] })
        ?.tasks;
      for (const t of saved ?? []) {
        if (!listById(t.listId)) continue;
        tasks.set(t.id, { ...t, custom: new Map(t.custom) });
      }
    },
  };
}
