/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { Child } from 'hono/jsx';
import { int } from '../format.ts';
import { Csrf } from '../layout.tsx';

const ORDER = ['enriched', 'partial', 'failed', 'running'] as const;

function segments(counts: Record<string, number>, total: number) {
  let x = 0;
  return ORDER.map((state) => {
    const w = (100 * (counts[state] ?? 0)) / total;
    const seg = { state, x: x.toFixed(2), w: w.toFixed(2) };
    x += w;
    return seg;
  });
}

/** Runs of a batch by state as a bar, and the same as words. */
export function Progress(p: { counts: Record<string, number>; total: number }) {
  const total = Math.max(1, p.total);
  const done = (p.counts.enriched ?? 0) + (p.counts.partial ?? 0) + (p.counts.failed ?? 0);
  return (
    <div>
      {/* SVG geometry, not style attributes: the page's CSP forbids inline styles. */}
      <svg
        class="bar"
        viewBox="0 0 100 10"
        preserveAspectRatio="none"
        role="img"
        aria-label={`${done} of ${p.total} runs finished`}
      >
        {segments(p.counts, total).map((x) => (
          <rect class={x.state} x={x.x} y="0" width={x.w} height="10" />
        ))}
      </svg>
      <span class="muted">
        {int(done)}/{int(p.total)} done
        {ORDER.concat()
          .filter((s) => (p.counts[s] ?? 0) > 0)
          .map((s) => ` · ${int(p.counts[s] ?? 0)} ${s}`)
          .join('')}
        {(p.counts.queued ?? 0) > 0 ? ` · ${int(p.counts.queued)} queued` : ''}
      </span>
    </div>
  );
}

/** A state word coloured by its class (s-failed, s-enriched…). */
export const State = (p: { s: string | null | undefined }) => (
  <span class={`s-${p.s ?? ''}`}>{p.s ?? '-'}</span>
);

/** A button that posts a plain form (works without JavaScript) with the CSRF token. */
export function Action(p: {
  action: string;
  csrf: string;
  label: string;
  confirm?: string;
  danger?: boolean;
  fields?: Record<string, string | number>;
  children?: Child;
}) {
  return (
    <form method="post" action={p.action} class="inline">
      <Csrf token={p.csrf} />
      {Object.entries(p.fields ?? {}).map(([k, v]) => (
        <input type="hidden" name={k} value={String(v)} />
      ))}
      {p.children}
      <button type="submit" class={p.danger ? 'danger' : undefined} hx-confirm={p.confirm}>
        {p.label}
      </button>
    </form>
  );
}

/** "Next page" for keyset lists: the same URL with `cursor` set. */
export function NextPage(p: { url: URL; cursor: number | null }) {
  if (p.cursor === null) return null;
  const u = new URL(p.url);
  u.searchParams.set('cursor', String(p.cursor));
  u.searchParams.delete('fragment');
  return (
    <p>
      <a href={u.pathname + u.search}>next page →</a>
    </p>
  );
}
