/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import { Csrf, databaseLabel, type PageFrame } from '../layout.tsx';

/** The login form: an API key (`sluice keys create --name NAME`) opens a browser session. */
export function LoginPage(p: { frame: PageFrame; loginCsrf: string; next: string; error?: string }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Log in · Sluice</title>
        <link rel="stylesheet" href="/assets/ui.css" />
      </head>
      <body>
        <p class="db" id="database">
          Database: <strong>{databaseLabel(p.frame.database)}</strong>
        </p>
        {p.frame.sandboxServer || p.frame.demoBatches.length > 0 ? (
          <p class="banner sim" id="sandbox">
            {p.frame.sandboxServer
              ? 'Sandbox: this server answers every provider from simulated fakes. Nothing here is real data.'
              : 'This database holds simulated data from `sluice demo`.'}
          </p>
        ) : null}
        <form class="login" method="post" action="/login">
          <h1>Sluice dashboard</h1>
          {p.error ? <p class="notice error">{p.error}</p> : null}
          <p>
            <label for="key">API key</label>
            <br />
            <input id="key" name="key" type="password" autocomplete="off" placeholder="sk_…" required />
          </p>
          <Csrf token={p.loginCsrf} />
          <input type="hidden" name="next" value={p.next} />
          <p>
            <button class="primary" type="submit">
              Log in
            </button>
          </p>
          <p class="muted">
            Create a key with <code>sluice keys create --name NAME</code>. The session lasts 12 hours;
            revoking the key ends it.
          </p>
        </form>
      </body>
    </html>
  );
}
