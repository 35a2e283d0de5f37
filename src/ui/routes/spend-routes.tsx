/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import { stringify } from 'csv-stringify/sync';
import type { Hono } from 'hono';
import { neutralizeFormula } from '../../export/csv-cell.ts';
import { pageFrame } from '../frame.ts';
import { SpendView } from '../pages/spend-page.tsx';
import { foldSoon } from '../queries/ledger-rollup.ts';
import { parseSpendBy, readSpend } from '../queries/spend.ts';
import { renderPage } from '../render.tsx';
import { requireSession } from '../ui-auth.ts';
import type { UiEnv } from '../ui-env.ts';
import { optionalInt } from './route-helpers.ts';

export function registerSpendRoutes(ui: Hono<UiEnv>): void {
  ui.get('/spend', requireSession(), async (c) => {
    const db = c.get('services').db;
    foldSoon(db);
    const batch = optionalInt(c.req.query('batch'), 'batch');
    const by = parseSpendBy(c.req.query('by'), batch);
    const rows = await readSpend(db, by, batch ? { batch } : {});
    const frame = await pageFrame(c, 'Spend', '/spend');
    return renderPage(c, frame, <SpendView by={by} rows={rows} {...(batch ? { batch } : {})} />);
  });

  ui.get('/spend.csv', requireSession(), async (c) => {
    const db = c.get('services').db;
    const batch = optionalInt(c.req.query('batch'), 'batch');
    const by = parseSpendBy(c.req.query('by'), batch);
    const rows = await readSpend(db, by, batch ? { batch } : {});
    // Names come from imported data: a cell starting with = or @ is neutralized (src/export/csv-cell.ts).
    const csv = stringify(
      rows.map((r) => [neutralizeFormula(r.key), r.requests, r.costUsd.toFixed(6), r.savedUsd.toFixed(6)]),
      { header: true, columns: [by, by === 'record' ? 'calls' : 'requests', 'cost_usd', 'saved_usd'] },
    );
    return c.body(csv, 200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="sluice-spend-by-${by}${batch ? `-batch-${batch}` : ''}.csv"`,
      'cache-control': 'no-store',
    });
  });
}
