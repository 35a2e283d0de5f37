import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { createOutreachServices } from '../../outreach/outreach-services.ts';
import { checkUnsubscribe, maskEmail, unsubscribeByToken } from '../../outreach/unsubscribe.ts';
import type { ServerEnv } from '../server-env.ts';

/**
 * `GET|POST /unsubscribe/{token}`: the `List-Unsubscribe` URL of every outreach message, public (the
 * token is the authentication). GET answers a small confirmation page and changes nothing; POST
 * unsubscribes (the page's button, or RFC 8058's one-click `List-Unsubscribe=One-Click` POST, whose
 * body is not needed). The logic is outreach's (src/outreach/unsubscribe.ts); this file is HTML.
 */
const sentence = (s: string) => `${s.charAt(0).toUpperCase()}${s.slice(1)}.`;
const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );

function page(c: Context<ServerEnv>, status: number, title: string, body: string) {
  return c.html(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${esc(title)}</title>` +
      '<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}button{font:inherit;padding:.5rem 1.25rem;cursor:pointer}</style></head>' +
      `<body><h1>${esc(title)}</h1>${body}</body></html>`,
    status as 200,
    { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' },
  );
}

export function registerUnsubscribeRoutes(app: OpenAPIHono<ServerEnv>): void {
  const services = (c: Context<ServerEnv>) => {
    const s = c.get('services');
    return createOutreachServices(s.db, s.env);
  };
  app.get('/unsubscribe/:token', async (c) => {
    const check = await checkUnsubscribe(services(c), c.req.param('token'));
    if (!check.ok)
      return page(c, check.status, 'This link does not work', `<p>${esc(sentence(check.message))}</p>`);
    if (check.unsubscribed)
      return page(
        c,
        200,
        'You are unsubscribed',
        `<p>${esc(maskEmail(check.email))} gets no more emails from us.</p>`,
      );
    return page(
      c,
      200,
      'Unsubscribe?',
      `<p>Stop every email from us to ${esc(maskEmail(check.email))}?</p>` +
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>',
    );
  });
  app.post('/unsubscribe/:token', async (c) => {
    const r = await unsubscribeByToken(services(c), c.req.param('token'));
    if (!r.ok) return page(c, r.status, 'This link does not work', `<p>${esc(sentence(r.message))}</p>`);
    return page(
      c,
      200,
      'You are unsubscribed',
      `<p>${esc(maskEmail(r.email))} gets no more emails from us${r.already ? ' (it was already unsubscribed)' : ''}.</p>`,
    );
  });
}
