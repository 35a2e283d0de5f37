import type { Hono } from 'hono';

/**
 * A cookie-keeping client of the dashboard over `app.request` (no network): logs in through the login
 * form like a browser does and submits forms with the page's CSRF token.
 */
export function uiClient(app: Pick<Hono, 'request'>) {
  const jar = new Map<string, string>();
  let csrf = '';
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const keep = (res: Response) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (/max-age=0/i.test(c) || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  };
  const request = async (path: string, init: RequestInit = {}) => {
    let { body } = init;
    let type: Record<string, string> = {};
    if (body instanceof FormData) {
      // Sent as bytes, like a browser's finished form: Node's FormData encoder keeps enqueuing into a
      // body the server cancelled (a 403 before the file), an unhandled rejection in the test process.
      const encoded = new Request('http://x/', { method: 'POST', body });
      type = { 'content-type': encoded.headers.get('content-type')! };
      body = Buffer.from(await encoded.arrayBuffer());
    }
    return keep(
      await app.request(path, {
        ...init,
        ...(body !== undefined ? { body } : {}),
        headers: {
          host: 'localhost',
          cookie: cookieHeader(),
          ...type,
          ...(init.headers as Record<string, string>),
        },
      }),
    );
  };
  const tokenIn = (html: string) =>
    /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ??
    /x-csrf-token&quot;:&quot;([^&]+)&quot;/.exec(html)?.[1];
  return {
    jar,
    request,
    get csrf() {
      return csrf;
    },
    /** GET a page; remembers its CSRF token. */
    async get(path: string, headers: Record<string, string> = {}) {
      const res = await request(path, { headers });
      const html = await res.text();
      const t = tokenIn(html);
      if (t && !path.startsWith('/login')) csrf = t;
      return { res, html, status: res.status };
    },
    /** POST a urlencoded form with the current CSRF token (unless `_csrf` is given). */
    async post(
      path: string,
      fields: Record<string, string | string[]> = {},
      headers: Record<string, string> = {},
    ) {
      const body = new URLSearchParams();
      if (!('_csrf' in fields)) body.append('_csrf', csrf);
      for (const [k, v] of Object.entries(fields))
        for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
      const res = await request(path, {
        method: 'POST',
        body: body.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      });
      return { res, html: await res.text(), status: res.status, location: res.headers.get('location') };
    },
    async login(key: string, next = '/') {
      const page = await request(`/login?next=${encodeURIComponent(next)}`);
      const token = tokenIn(await page.text())!;
      const res = await request('/login', {
        method: 'POST',
        body: new URLSearchParams({ key, _csrf: token, next }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      if (res.status === 303 && res.headers.get('location') === next) await this.get(next);
      return res;
    },
  };
}
