/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { Child } from 'hono/jsx';
import { CSRF_FIELD } from './ui-auth.ts';

/** What every page shows around its content: where the data comes from and who is logged in. */
export interface PageFrame {
  title: string;
  /** The nav entry to highlight (a path of NAV). */
  active: string;
  /** `pglite` or `postgres`, and the data dir or connection target (never a password). */
  database: { backend: string; target: string; schema: string };
  /** `sluice serve --sandbox`: every provider answer is simulated. */
  sandboxServer: boolean;
  /** Batches of `sluice demo` (simulated providers) in this database. */
  demoBatches: number[];
  keyName?: string;
  csrf?: string;
}

export const NAV: readonly [string, string][] = [
  ['/', 'Overview'],
  ['/batches', 'Batches'],
  ['/runs', 'Runs'],
  ['/records', 'Records'],
  ['/dead-letters', 'Dead letters'],
  ['/spend', 'Spend'],
  ['/providers', 'Providers'],
  ['/deliveries', 'Deliveries'],
  ['/start', 'Start work'],
];

export function databaseLabel(d: PageFrame['database']): string {
  const kind = d.backend === 'pglite' ? 'embedded PGlite' : 'PostgreSQL';
  return `${kind} ${d.target}${d.schema && d.schema !== 'public' ? ` (schema ${d.schema})` : ''}`;
}

/** A hidden CSRF field for plain (no-JavaScript) forms. */
export const Csrf = (p: { token: string }) => <input type="hidden" name={CSRF_FIELD} value={p.token} />;

/** Marks something as simulated (sandbox providers, no real data). */
export const Simulated = () => (
  <span class="badge sim" title="produced by the sandbox's simulated providers: not real data">
    simulated
  </span>
);

export function Layout(p: { frame: PageFrame; children: Child }) {
  const f = p.frame;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false}' />
        <title>{`${f.title} · Sluice`}</title>
        <link rel="stylesheet" href="/assets/ui.css" />
        <link rel="stylesheet" href="/assets/uPlot.min.css" />
        <script src="/assets/htmx.min.js" defer></script>
        <script src="/assets/uPlot.iife.min.js" defer></script>
        <script src="/assets/ui.js" defer></script>
      </head>
      <body hx-headers={f.csrf ? JSON.stringify({ 'x-csrf-token': f.csrf }) : undefined}>
        <header class="top">
          <a class="brand" href="/">
            Sluice
          </a>
          <nav>
            {NAV.map(([href, label]) => (
              <a href={href} class={href === f.active ? 'on' : undefined}>
                {label}
              </a>
            ))}
          </nav>
          {f.keyName && f.csrf ? (
            <form method="post" action="/logout" class="logout">
              <Csrf token={f.csrf} />
              <span class="muted">key {f.keyName}</span> <button type="submit">Log out</button>
            </form>
          ) : null}
        </header>
        <p class="db" id="database">
          Database: <strong>{databaseLabel(f.database)}</strong>
        </p>
        {f.sandboxServer ? (
          <p class="banner sim" id="sandbox">
            Sandbox: this server answers every provider from simulated fakes. Nothing here is real data.
          </p>
        ) : f.demoBatches.length > 0 ? (
          <p class="banner sim" id="sandbox">
            This database holds simulated data from <code>sluice demo</code> (batch
            {f.demoBatches.length === 1 ? '' : 'es'} {f.demoBatches.join(', ')}): marked <Simulated /> where
            shown.
          </p>
        ) : null}
        <main>
          <h1>{f.title}</h1>
          {p.children}
        </main>
      </body>
    </html>
  );
}
