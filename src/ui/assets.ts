import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import type { UiEnv } from './ui-env.ts';

const require = createRequire(import.meta.url);
/** src/ui/assets from src/ui (tsx) and from dist/ui (built): both sit two levels below the package. */
const OWN = (name: string) => fileURLToPath(new URL(`../../src/ui/assets/${name}`, import.meta.url));

/**
 * Every file a page loads, served by this process: htmx and uPlot straight from node_modules (pinned by
 * the lockfile; no CDN, no build step), and the dashboard's own stylesheet and script. Read on first use
 * and kept in memory.
 */
const FILES: Record<string, { path: () => string; type: string }> = {
  'htmx.min.js': { path: () => require.resolve('htmx.org/dist/htmx.min.js'), type: 'text/javascript' },
  'uPlot.iife.min.js': {
    path: () => require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript',
  },
  'uPlot.min.css': { path: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css' },
  'ui.css': { path: () => OWN('ui.css'), type: 'text/css' },
  'ui.js': { path: () => OWN('ui.js'), type: 'text/javascript' },
};

const loaded = new Map<string, Buffer>();

export function registerAssets(ui: Hono<UiEnv>): void {
  // Browsers ask for it on every page; without this the API would answer 401.
  ui.get('/favicon.ico', (c) => c.body(null, 204, { 'cache-control': 'public, max-age=86400' }));
  ui.get('/assets/:name', (c) => {
    const name = c.req.param('name');
    const f = FILES[name];
    if (!f) return c.text('no such asset', 404);
    let body = loaded.get(name);
    if (!body) {
      body = readFileSync(f.path());
      loaded.set(name, body);
    }
    return c.body(new Uint8Array(body), 200, {
      'content-type': `${f.type}; charset=utf-8`,
      'cache-control': 'public, max-age=3600',
      'x-content-type-options': 'nosniff',
    });
  });
}
