import { Hono } from 'hono';
import { type RenderedPage, renderPage } from '../site-render.ts';
import { type Company, companyForHost, type World } from '../world.ts';
import { FakeKit, type FakeOptions, type FakeServer, malformed } from './fake-kit.ts';

/**
 * Serves every website of the world from one local server. Two ways in:
 * - proxy form `GET /<absolute url>` (what the website provider sends when `SLUICE_WEBSITE_BASE_URL`
 *   points here, like a reader proxy), and
 * - the `Host` header (`curl -H 'Host: www.kinlochgc.com' http://127.0.0.1:PORT/staff`).
 */
export function lookupPage(
  world: World,
  target: string,
): { company: Company; page: RenderedPage; url: string } | null {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return null;
  }
  const company = companyForHost(world, url.hostname);
  if (!company) return null;
  const page = renderPage(company, url.pathname);
  return page ? { company, page, url: url.toString() } : null;
}

/** Extracts `https://host/path?q` from a proxy-form request URL. */
export function proxiedTarget(requestUrl: string): string | null {
  const u = new URL(requestUrl);
  const raw = decodeURIComponent(u.pathname.slice(1)) + u.search;
  const m = /^(https?):\/+(.*)$/i.exec(raw);
  return m ? `${m[1]!.toLowerCase()}://${m[2]}` : null;
}

export function createSitesFake(world: World, options: FakeOptions = {}): FakeServer {
  const kit = new FakeKit(
    'website',
    { faultRate: 0, ...options },
    { latencyMs: 25, coverage: 1, wrongRate: 0 },
    world.seed,
  );
  const app = new Hono();
  app.all('*', async (c) => {
    await kit.enter(c);
    const target =
      proxiedTarget(c.req.url) ?? `http://${c.req.header('host') ?? ''}${new URL(c.req.url).pathname}`;
    if (kit.control.mode === 'malformed') return malformed(c);
    if (kit.control.mode === 'server-error') return c.text('Service Unavailable', 503);
    if (kit.control.mode === 'throttle') return c.text('Too Many Requests', 429, { 'retry-after': '2' });
    await kit.delay(target);
    const hit = lookupPage(world, target);
    if (!hit) return c.html('<!doctype html><title>Not Found</title><h1>404 Not Found</h1>', 404);
    return c.html(hit.page.html);
  });
  return { app, control: kit.control, stats: kit.stats, apiKey: kit.apiKey };
}
