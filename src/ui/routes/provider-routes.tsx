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
    // Waterfall positions of the chosen batch, else the latest one: read alongside the ledger figures
    // (on server Postgres the two run at once; PGlite queues them).
    const chosen = optionalInt(c.req.query('batch'), 'batch');
    const positionsRead = (async () => {
      const latest =
        chosen ?? (await db.query<{ id: number }>('SELECT max(id) AS id FROM batches')).rows[0]?.id;
      const b = latest ?? null;
      return { batch: b, positions: b ? await waterfallPositions(db, b) : [] };
    })();
    const ledgerRead = (async () => {
      const ops = await operationStats(db);
      return { ops, health: await providerHealth(db, [...new Set(ops.map((o) => o.provider))]) };
    })();
    const [{ ops, health }, { batch, positions }] = await Promise.all([ledgerRead, positionsRead]);
    const frame = await pageFrame(c, 'Providers and waterfalls', '/providers');
    return renderPage(
      c,
      frame,
      <ProvidersView ops={ops} health={health} positions={positions} batch={batch} />,
    );
  });
}
