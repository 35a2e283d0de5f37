/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import { Layout, type PageFrame } from './layout.tsx';
import type { UiEnv } from './ui-env.ts';

/** Every page: scripts and styles only from this origin, never framed, nothing cached. */
export const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on form posts
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

/** Whether this request asks only for the live fragment (htmx polling, or `?fragment=1`). */
export function wantsFragment(c: Context): boolean {
  return c.req.query('fragment') === '1';
}

export function renderPage(
  c: Context<UiEnv>,
  frame: PageFrame,
  body: Child,
  status: 200 | 400 | 401 | 403 | 404 | 409 | 413 | 422 | 503 = 200,
) {
  return c.html(`<!doctype html>${(<Layout frame={frame}>{body}</Layout>).toString()}`, status, PAGE_HEADERS);
}

export function renderFragment(c: Context<UiEnv>, body: Child) {
  return c.html(String(body), 200, PAGE_HEADERS);
}

/**
 * A region that refreshes itself: htmx fetches `src` (which answers the inner HTML only) every few
 * seconds and swaps it in; the wrapper stays, so polling continues. Without JavaScript the region is
 * simply what the page was rendered with.
 */
export function Live(p: { id: string; src: string; every?: number; children: Child }) {
  const sep = p.src.includes('?') ? '&' : '?';
  return (
    <div
      id={p.id}
      hx-get={`${p.src}${sep}fragment=1`}
      hx-trigger={`every ${p.every ?? 3}s`}
      hx-swap="innerHTML"
    >
      {p.children}
    </div>
  );
}

/** A one-line result of an action, shown on the page it redirected to (`?notice=…` / `?alert=…`). */
export function Flash(p: { c: Context }) {
  const done = p.c.req.query('notice');
  const error = p.c.req.query('alert');
  return (
    <>
      {done ? (
        <p class="notice" role="status">
          {done}
        </p>
      ) : null}
      {error ? (
        <p class="notice error" role="alert">
          {error}
        </p>
      ) : null}
    </>
  );
}
