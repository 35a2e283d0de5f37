/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { Context, Hono } from 'hono';
import { retryDeadRuns } from '../../engine/dead-letter.ts';
import { isSimulated, pageFrame } from '../frame.ts';
import { NextPage } from '../pages/parts.tsx';
import { BulkActions, RunDetail, RunFilterForm, RunsTable } from '../pages/runs-page.tsx';
import {
  cancelMatching,
  filterParams,
  listRuns,
  matchingRedrivable,
  parseRunFilter,
  readRunDetail,
} from '../queries/runs.ts';
import { Flash, Live, renderFragment, renderPage, wantsFragment } from '../render.tsx';
import { requireSession, UiError } from '../ui-auth.ts';
import type { UiEnv } from '../ui-env.ts';
import { doneRedirect, optionalInt, positiveInt } from './route-helpers.ts';

const PAGE = 50;

async function formFilter(c: Context<UiEnv>) {
  const body = await c.req.parseBody();
  return parseRunFilter((k) => (typeof body[k] === 'string' ? (body[k] as string) : undefined));
}

const runsUrl = (params: Record<string, string>) => {
  const q = new URLSearchParams(params).toString();
  return q ? `/runs?${q}` : '/runs';
};

export function registerRunRoutes(ui: Hono<UiEnv>): void {
  ui.get('/runs', requireSession(), async (c) => {
    const db = c.get('services').db;
    const f = parseRunFilter((k) => c.req.query(k));
    const before = optionalInt(c.req.query('cursor'), 'cursor');
    const { rows, matching, capped } = await listRuns(db, f, {
      limit: PAGE + 1,
      ...(before ? { before } : {}),
    });
    const shown = rows.slice(0, PAGE);
    const frame = await pageFrame(c, 'Runs', '/runs');
    const table = <RunsTable rows={shown} simulated={(b) => isSimulated(frame, b)} />;
    if (wantsFragment(c)) return renderFragment(c, table);
    const self = runsUrl({ ...filterParams(f), ...(before ? { cursor: String(before) } : {}) });
    return renderPage(
      c,
      frame,
      <>
        <Flash c={c} />
        <RunFilterForm f={f} />
        <BulkActions f={f} matching={matching} capped={capped} csrf={c.get('session').csrf} />
        <Live id="runs-live" src={self} every={5}>
          {table}
        </Live>
        <NextPage url={new URL(c.req.url)} cursor={rows.length > PAGE ? shown[shown.length - 1]!.id : null} />
      </>,
    );
  });

  ui.post('/runs/retry', requireSession('write'), async (c) => {
    const s = c.get('services');
    const f = await formFilter(c);
    const ids = await matchingRedrivable(s.db, f);
    const requeued = ids.length > 0 ? await retryDeadRuns(s.db, s.engine.queue, ids) : [];
    return doneRedirect(
      c,
      runsUrl(filterParams(f)),
      `${requeued.length} failed runs queued again (memoized steps kept)`,
    );
  });

  ui.post('/runs/cancel', requireSession('write'), async (c) => {
    const s = c.get('services');
    const f = await formFilter(c);
    const n = await cancelMatching(s.db, f, c.get('session').apiKey.name);
    return doneRedirect(
      c,
      runsUrl(filterParams(f)),
      `${n} queued runs cancelled (running ones finish; a retry runs them after all)`,
    );
  });

  ui.get('/runs/:id', requireSession(), async (c) => {
    const db = c.get('services').db;
    const id = positiveInt(c.req.param('id'), 'run id');
    const d = await readRunDetail(db, id);
    if (!d) throw new UiError(404, `run ${id} does not exist`);
    const frame = await pageFrame(c, `Run ${id}`, '/runs');
    const body = (
      <RunDetail
        run={d.run}
        timeline={d.timeline}
        csrf={c.get('session').csrf}
        simulated={isSimulated(frame, d.run.batchId)}
      />
    );
    if (wantsFragment(c)) return renderFragment(c, body);
    const open = d.run.state === 'queued' || d.run.state === 'running';
    return renderPage(
      c,
      frame,
      <>
        <Flash c={c} />
        {open ? (
          <Live id="run-live" src={`/runs/${id}`} every={2}>
            {body}
          </Live>
        ) : (
          body
        )}
      </>,
    );
  });

  ui.post('/runs/:id/retry', requireSession('write'), async (c) => {
    const s = c.get('services');
    const id = positiveInt(c.req.param('id'), 'run id');
    const requeued = await retryDeadRuns(s.db, s.engine.queue, [id]);
    return doneRedirect(
      c,
      `/runs/${id}`,
      requeued.length > 0
        ? `run ${id} queued again: only what failed runs again`
        : `run ${id} has nothing to retry`,
      requeued.length === 0,
    );
  });
}
