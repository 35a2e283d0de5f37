import { afterAll, beforeAll, expect, it } from 'vitest';
import { revokeApiKey } from '../src/api-keys/api-keys.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { openServerHarness, type ServerHarness } from './helpers/server-harness.ts';
import { uiClient } from './helpers/ui-client.ts';

describeEachBackend('dashboard login, session and CSRF', (backend) => {
  let h: ServerHarness;
  beforeAll(async () => {
    h = await openServerHarness(backend);
  });
  afterAll(() => h.close());

  it('sends a visitor without a session to the login page, which names the database', async () => {
    const ui = uiClient(h.app);
    const r = await ui.request('/');
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/login?next=%2F');
    const login = await ui.get('/login');
    expect(login.status).toBe(200);
    expect(login.html).toContain(backend === 'pglite' ? 'embedded PGlite' : 'PostgreSQL');
    expect(login.html).toContain('name="key"');
    // htmx polling without a session gets a redirect header, not a login page inside a fragment
    const frag = await ui.request('/?fragment=1', { headers: { 'hx-request': 'true' } });
    expect(frag.status).toBe(401);
    expect(frag.headers.get('hx-redirect')).toContain('/login');
  });

  it('logs in with an API key into a Secure, http-only, SameSite=Strict cookie and logs out', async () => {
    const ui = uiClient(h.app);
    const res = await ui.login(h.writeKey);
    expect(res.status).toBe(303);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('__Host-sluice_session='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/Secure/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\//);
    const page = await ui.get('/');
    expect(page.status).toBe(200);
    expect(page.html).toContain('Runs by state');
    expect(page.html).toContain(
      `Database: <strong>${backend === 'pglite' ? 'embedded PGlite' : 'PostgreSQL'}`,
    );
    expect(page.res.headers.get('content-security-policy')).toContain("script-src 'self'");
    // the token is stored hashed only
    const rows = await h.db.query<{ token_hash: string }>('SELECT token_hash FROM ui_sessions');
    const token = ui.jar.get('__Host-sluice_session')!;
    expect(rows.rows.some((r) => r.token_hash === token)).toBe(false);
    const out = await ui.post('/logout');
    expect(out.status).toBe(303);
    expect((await ui.request('/')).status).toBe(303);
  });

  it('refuses a wrong key, a login without the form token, and a redirect to another site', async () => {
    const ui = uiClient(h.app);
    const bad = await ui.login('sk_not-a-key');
    expect(bad.headers.get('location')).toContain('error=');
    const noToken = await ui.request('/login', {
      method: 'POST',
      body: new URLSearchParams({ key: h.writeKey }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(noToken.headers.get('location')).toContain('stale');
    expect(ui.jar.has('__Host-sluice_session')).toBe(false);
    const evil = await ui.login(h.writeKey, '//evil.example/x');
    expect(evil.headers.get('location')).toBe('/');
  });

  it('refuses an action without the CSRF token or from another origin', async () => {
    const ui = uiClient(h.app);
    await ui.login(h.writeKey);
    const without = await ui.post('/logout', { _csrf: 'wrong' });
    expect(without.status).toBe(403);
    const cross = await ui.post('/logout', {}, { origin: 'https://evil.example' });
    expect(cross.status).toBe(403);
    const site = await ui.post('/logout', {}, { 'sec-fetch-site': 'cross-site' });
    expect(site.status).toBe(403);
    expect((await ui.get('/')).status).toBe(200);
  });

  it('ends the session when its key is revoked', async () => {
    const key = await h.key(['read']);
    const ui = uiClient(h.app);
    await ui.login(key);
    expect((await ui.get('/')).status).toBe(200);
    await revokeApiKey(h.db, 'read');
    expect((await ui.request('/')).status).toBe(303);
  });

  it('serves htmx and uPlot from this process, and the API still wants its key', async () => {
    const ui = uiClient(h.app);
    const htmx = await ui.request('/assets/htmx.min.js');
    expect(htmx.status).toBe(200);
    expect(await htmx.text()).toContain('2.0.11');
    expect((await ui.request('/assets/uPlot.iife.min.js')).status).toBe(200);
    expect((await h.app.request('/v1/batches')).status).toBe(401);
  });
});
