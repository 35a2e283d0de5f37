/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { verifyApiKey } from '../api-keys/api-keys.ts';
import { isDatabaseUnavailable } from '../errors.ts';
import { registerAssets } from './assets.ts';
import { pageFrame } from './frame.ts';
import { LoginPage } from './pages/login-page.tsx';
import { OverviewBody, Throughput } from './pages/overview-page.tsx';
import { foldSoon } from './queries/ledger-rollup.ts';
import { readOverview } from './queries/overview.ts';
import { Flash, Live, PAGE_HEADERS, renderFragment, renderPage, wantsFragment } from './render.tsx';
import { registerBatchRoutes } from './routes/batch-routes.tsx';
import { registerDeadLetterRoutes } from './routes/dead-letter-routes.tsx';
import { registerDeliveryRoutes } from './routes/delivery-routes.tsx';
import { registerProviderRoutes } from './routes/provider-routes.tsx';
import { registerRecordRoutes } from './routes/record-routes.tsx';
import { registerRunRoutes } from './routes/run-routes.tsx';
import { registerSpendRoutes } from './routes/spend-routes.tsx';
import { registerStartRoutes } from './routes/start-routes.tsx';
import {
  createSession,
  deleteSession,
  LOGIN_COOKIE,
  readSession,
  SESSION_COOKIE,
  SESSION_TTL_HOURS,
  sameToken,
} from './session.ts';
import { CSRF_FIELD, requireSession, sameOrigin, UiError } from './ui-auth.ts';
import type { UiEnv } from './ui-env.ts';

const COOKIE = { path: '/', secure: true, httpOnly: true, sameSite: 'Strict' } as const;

/** Only paths of this site: `/x`, never `//host` or `http://host`. */
function safeNext(raw: unknown): string {
  const s = typeof raw === 'string' ? raw : '/';
  return s.startsWith('/') && !s.startsWith('//') && !s.startsWith('/\\') ? s : '/';
}

/**
 * The dashboard (docs/ui.md): server-rendered pages at `/`, mounted by the API app before its API-key
 * middleware. Each route carries its own session check, so nothing here touches the API's routes.
 */
export function createUi(): Hono<UiEnv> {
  const ui = new Hono<UiEnv>();
  ui.onError((err, c) => {
    const status = err instanceof UiError ? err.status : isDatabaseUnavailable(err) ? 503 : 500;
    const message =
      err instanceof UiError
        ? err.message
        : status === 503
          ? 'the database did not answer; nothing was changed or lost. Reload in a moment.'
          : 'something went wrong on the server (see the serve log)';
    if (status === 500) console.error(`dashboard ${c.req.path}:`, err);
    if (c.req.header('hx-request'))
      return c.html(`<p class="notice error" role="alert">${escapeHtml(message)}</p>`, status as 500, {
        ...PAGE_HEADERS,
        'hx-reswap': 'innerHTML',
      });
    return c.html(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error · Sluice</title><link rel="stylesheet" href="/assets/ui.css"></head><body><main><h1>${status === 503 ? 'Database unavailable' : 'Could not do that'}</h1><p class="notice error" role="alert">${escapeHtml(message)}</p><p><a href="/">Overview</a></p></main></body></html>`,
      status as 500,
      PAGE_HEADERS,
    );
  });
  registerAssets(ui);

  ui.get('/login', async (c) => {
    const s = c.get('services');
    if (await readSession(s.db, getCookie(c, SESSION_COOKIE)))
      return c.redirect(safeNext(c.req.query('next')), 303);
    const token = randomBytes(24).toString('base64url');
    setCookie(c, LOGIN_COOKIE, token, { ...COOKIE, maxAge: 3600 });
    const frame = await pageFrame(c, 'Log in', '');
    const error = c.req.query('error');
    return c.html(
      `<!doctype html>${(
        (
          <LoginPage
            frame={frame}
            loginCsrf={token}
            next={safeNext(c.req.query('next'))}
            {...(error ? { error } : {})}
          />
        )
      ).toString()}`,
      200,
      PAGE_HEADERS,
    );
  });

  ui.post('/login', async (c) => {
    const s = c.get('services');
    const body = await c.req.parseBody();
    const next = safeNext(body.next);
    const back = (error: string) =>
      c.redirect(`/login?next=${encodeURIComponent(next)}&error=${encodeURIComponent(error)}`, 303);
    if (!sameOrigin(c)) throw new UiError(403, 'this login came from another site and was refused');
    const expected = getCookie(c, LOGIN_COOKIE);
    if (
      !expected ||
      !sameToken(typeof body[CSRF_FIELD] === 'string' ? body[CSRF_FIELD] : undefined, expected)
    )
      return back('the login form was stale: try again');
    const key = typeof body.key === 'string' ? body.key.trim() : '';
    const apiKey = key ? await verifyApiKey(s.db, key) : undefined;
    if (!apiKey) return back('this API key is unknown or revoked (see `sluice keys list`)');
    const session = await createSession(s.db, apiKey);
    deleteCookie(c, LOGIN_COOKIE, { path: '/', secure: true });
    setCookie(c, SESSION_COOKIE, session.token, { ...COOKIE, maxAge: SESSION_TTL_HOURS * 3600 });
    return c.redirect(next, 303);
  });

  ui.post('/logout', requireSession('read'), async (c) => {
    await deleteSession(c.get('services').db, c.get('session').token);
    deleteCookie(c, SESSION_COOKIE, { path: '/', secure: true });
    return c.redirect('/login', 303);
  });

  ui.get('/', requireSession(), async (c) => {
    const db = c.get('services').db;
    foldSoon(db);
    const o = await readOverview(db);
    if (wantsFragment(c)) return renderFragment(c, <OverviewBody o={o} />);
    const frame = await pageFrame(c, 'Overview', '/');
    return renderPage(
      c,
      frame,
      <>
        <Flash c={c} />
        <Live id="overview-live" src="/">
          <OverviewBody o={o} />
        </Live>
        <Throughput o={o} />
      </>,
    );
  });

  registerBatchRoutes(ui);
  registerRunRoutes(ui);
  registerRecordRoutes(ui);
  registerStartRoutes(ui);
  registerDeadLetterRoutes(ui);
  registerDeliveryRoutes(ui);
  registerSpendRoutes(ui);
  registerProviderRoutes(ui);
  return ui;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
