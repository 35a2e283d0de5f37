/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { Hono } from 'hono';
import { batchProgress, resumeBatch, settleBatch } from '../../engine/batch.ts';
import { redriveBatch } from '../../engine/dead-letter.ts';
import { stopBatch } from '../../engine/run-store.ts';
import { batchScope, getBudget } from '../../limits/budget.ts';
import { isSimulated, pageFrame } from '../frame.ts';
import { BatchActions, BatchBody, BatchesTable } from '../pages/batches-page.tsx';
import { NextPage } from '../pages/parts.tsx';
import { batchBreakdown, batchState, forecastOpenRuns, listBatches, readBatch } from '../queries/batches.ts';
import { foldSoon } from '../queries/ledger-rollup.ts';
import { providersFor } from '../queries/start-work.ts';
import { Flash, Live, renderFragment, renderPage, wantsFragment } from '../render.tsx';
import { requireSession, UiError } from '../ui-auth.ts';
import type { UiEnv } from '../ui-env.ts';
import { doneRedirect, formField, optionalInt, positiveInt } from './route-helpers.ts';

const PAGE = 50;

export function registerBatchRoutes(ui: Hono<UiEnv>): void {
  ui.get('/batches', requireSession(), async (c) => {
    const db = c.get('services').db;
    foldSoon(db);
    const before = optionalInt(c.req.query('cursor'), 'cursor');
    const rows = await listBatches(db, { limit: PAGE + 1, ...(before ? { before } : {}) });
    const frame = await pageFrame(c, 'Batches', '/batches');
    const shown = rows.slice(0, PAGE);
    const table = <BatchesTable rows={shown} simulated={(id) => isSimulated(frame, id)} />;
    if (wantsFragment(c)) return renderFragment(c, table);
    return renderPage(
      c,
      frame,
      <>
        <Flash c={c} />
        <Live id="batches-live" src={before ? `/batches?cursor=${before}` : '/batches'}>
          {table}
        </Live>
        <NextPage url={new URL(c.req.url)} cursor={rows.length > PAGE ? shown[shown.length - 1]!.id : null} />
      </>,
    );
  });

  ui.get('/batches/:id', requireSession(), async (c) => {
    const db = c.get('services').db;
    foldSoon(db);
    const id = positiveInt(c.req.param('id'), 'batch id');
    // A batch reopened by a redrive has no job watching it any more: settle it here once nothing is open.
    await settleBatch(db, id);
    const batch = await readBatch(db, id);
    if (!batch) throw new UiError(404, `batch ${id} does not exist`);
    const [progress, budget, breakdown, state] = [
      await batchProgress(db, id),
      await getBudget(db, batchScope(id)),
      await batchBreakdown(db, id),
      await batchState(db, id),
    ];
    const s = c.get('services');
    // Before any run has finished lately, the ETA comes from the forecast of what is left.
    const forecast = await forecastOpenRuns(
      db,
      batch,
      () => s.engine.resolvePipeline(batch.pipeline),
      providersFor(s.sandbox === true),
    ).catch(() => undefined);
    const body = <BatchBody d={{ batch, progress, budget, breakdown, forecast }} />;
    if (wantsFragment(c)) return renderFragment(c, body);
    const frame = await pageFrame(c, `Batch ${id}: ${batch.pipeline}`, '/batches');
    return renderPage(
      c,
      frame,
      <>
        <Flash c={c} />
        {isSimulated(frame, id) ? (
          <p class="banner sim">
            This batch ran on the sandbox's simulated providers: its values are not real data.
          </p>
        ) : null}
        <BatchActions b={batch} csrf={c.get('session').csrf} state={state} />
        <Live id="batch-live" src={`/batches/${id}`} every={2}>
          {body}
        </Live>
      </>,
    );
  });

  ui.post('/batches/:id/stop', requireSession('write'), async (c) => {
    const id = positiveInt(c.req.param('id'), 'batch id');
    const db = c.get('services').db;
    if (!(await readBatch(db, id))) throw new UiError(404, `batch ${id} does not exist`);
    await stopBatch(db, id, `stopped from the dashboard (key ${c.get('session').apiKey.name})`);
    return doneRedirect(
      c,
      `/batches/${id}`,
      `batch ${id} stopped: runs in flight finish, the rest stay queued (Resume continues)`,
    );
  });

  ui.post('/batches/:id/resume', requireSession('write'), async (c) => {
    const id = positiveInt(c.req.param('id'), 'batch id');
    const s = c.get('services');
    if (!(await readBatch(s.db, id))) throw new UiError(404, `batch ${id} does not exist`);
    const raw = await formField(c, 'budget');
    const budgetUsd = raw === '' ? undefined : Number(raw);
    if (budgetUsd !== undefined && !(Number.isFinite(budgetUsd) && budgetUsd >= 0))
      return doneRedirect(c, `/batches/${id}`, `budget must be an amount in USD ≥ 0, got "${raw}"`, true);
    await resumeBatch(s.db, s.engine.queue, id, budgetUsd !== undefined ? { budgetUsd } : {});
    return doneRedirect(
      c,
      `/batches/${id}`,
      `batch ${id} resumed${budgetUsd !== undefined ? ` with a budget of $${budgetUsd}` : ''}`,
    );
  });

  ui.post('/batches/:id/rerun-failed', requireSession('write'), async (c) => {
    const id = positiveInt(c.req.param('id'), 'batch id');
    const s = c.get('services');
    if (!(await readBatch(s.db, id))) throw new UiError(404, `batch ${id} does not exist`);
    const r = await redriveBatch(s.db, s.engine.queue, id);
    return doneRedirect(
      c,
      `/batches/${id}`,
      `${r.requeued} failed runs of batch ${id} queued again (memoized steps kept)`,
    );
  });
}
