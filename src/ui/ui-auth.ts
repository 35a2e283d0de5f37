import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { allows, type Scope } from '../api-keys/api-keys.ts';
import { readSession, SESSION_COOKIE, sameToken } from './session.ts';
import type { UiEnv } from './ui-env.ts';

/** Thrown by the dashboard's checks; rendered as an HTML page (or an htmx fragment) by ui-app. */
export class UiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 422 | 503,
    message: string,
  ) {
    super(message);
  }
}

/** Form field and header that carry the CSRF token (htmx sends the header, plain forms the field). */
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

const isRead = (method: string) => method === 'GET' || method === 'HEAD';

/**
 * A request from another site must not act with this session: SameSite=Strict already keeps the cookie
 * off cross-site requests; on top, a write must carry the session's CSRF token and, when the browser
 * says where it comes from (Origin, Sec-Fetch-Site), come from this origin.
 */
export function sameOrigin(c: Context): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') return false;
  const origin = c.req.header('origin');
  if (!origin) return true;
  const host = c.req.header('host');
  try {
    return new URL(origin).host === (host ?? new URL(c.req.url).host);
  } catch {
    return false;
  }
}

/** The submitted CSRF token: the header, else the form field (urlencoded or multipart). */
export async function submittedCsrf(c: Context): Promise<string | undefined> {
  const header = c.req.header(CSRF_HEADER);
  if (header) return header;
  const type = c.req.header('content-type') ?? '';
  if (!type.includes('form')) return undefined;
  const body = await c.req.parseBody();
  const v = body[CSRF_FIELD];
  return typeof v === 'string' ? v : undefined;
}

/**
 * The session check of every dashboard route but the login page and the assets: no session sends a
 * page request to /login (htmx gets HX-Redirect), a write needs the CSRF token, and the key's scopes
 * apply as in the API (reads `read`, actions `write`, dead-letter actions `admin`).
 */
export function requireSession(
  scope?: Scope,
  /**
   * `csrf: 'route'`: the route reads the token itself from its streamed form (an upload, whose body
   * must not be buffered to find it); the origin check still applies here. Default: checked here.
   */
  opts: { csrf?: 'route' } = {},
): MiddlewareHandler<UiEnv> {
  return async (c, next) => {
    const session = await readSession(c.get('services').db, getCookie(c, SESSION_COOKIE));
    if (!session) {
      const back = c.req.method === 'GET' ? c.req.path + new URL(c.req.url).search : '/';
      const to = `/login?next=${encodeURIComponent(back)}`;
      if (c.req.header('hx-request')) return c.body(null, 401, { 'hx-redirect': to });
      if (!isRead(c.req.method)) throw new UiError(401, 'your session ended: log in again');
      return c.redirect(to, 303);
    }
    if (!isRead(c.req.method)) {
      if (!sameOrigin(c)) throw new UiError(403, 'this action came from another site and was refused');
      const byRoute = opts.csrf === 'route' && !c.req.header(CSRF_HEADER);
      if (!byRoute && !sameToken(await submittedCsrf(c), session.csrf))
        throw new UiError(
          403,
          'the form was missing its CSRF token or it was stale: reload the page and try again',
        );
    }
    const needed = scope ?? (isRead(c.req.method) ? 'read' : 'write');
    if (!allows(session.apiKey.scopes, needed))
      throw new UiError(
        403,
        `the key "${session.apiKey.name}" has scopes ${session.apiKey.scopes.join(', ')}; this needs "${needed}" (log in with another key)`,
      );
    c.set('session', session);
    await next();
  };
}
