/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { Hono } from 'hono';
import { pageFrame } from '../frame.ts';
import { ProvidersView } from '../pages/providers-page.tsx';
import { foldSoon } from '../queries/ledger-rollup.ts';
import { operationStats, providerHealth, waterfallPositions } from '../queries/providers.ts';
import { renderPage } from '../render.tsx';
import { requireSession } from '../ui-auth.ts';
import type { UiEnv } from '../ui-env.ts';
import { optionalInt } from './route-helpers.ts';

export function registerProviderRoutes(ui: Hono<UiEnv>): void {
  ui.get('/providers', requireSession(), async (c) => {
    const db = c.get('services').db;
    foldSoon(db);
    const ops = await operationStats(db);
    const health = await providerHealth(db, [...new Set(ops.map((o) => o.provider))]);
    // Waterfall positions of the chosen batch, else the latest one.
    const chosen = optionalInt(c.req.query('batch'), 'batch');
    const latest = await db.query<{ id: number }>('SELECT max(id) AS id FROM batches');
    const batch = chosen ?? latest.rows[0]?.id ?? null;
    const positions = batch ? await waterfallPositions(db, batch) : [];
    const frame = await pageFrame(c, 'Providers and waterfalls', '/providers');
    return renderPage(
      c,
      frame,
      <ProvidersView ops={ops} health={health} positions={positions} batch={batch} />,
    );
  });
}
