import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { createUi } from '../ui/ui-app.tsx';
import { requireApiKey } from './auth.ts';
import { readHealth } from './health.ts';
import { idempotency } from './idempotency.ts';
import { renderMetrics } from './metrics-text.ts';
import { ApiProblem, problemResponse, toProblem, validationProblem } from './problem.ts';
import { renderDocsPage } from './routes/docs-page.ts';
import { registerHookRoutes } from './routes/hooks.ts';
import { registerImportRoutes } from './routes/imports.ts';
import { registerJobRoutes } from './routes/jobs.ts';
import { registerRecordRoutes } from './routes/records.ts';
import { registerUnsubscribeRoutes } from './routes/unsubscribe.ts';
import { registerViewRoutes } from './routes/views.ts';
import type { ServerEnv, ServerServices } from './server-env.ts';

export interface AppHooks {
  /** Called when new work was written (an inbound event stored): wake the processor. */
  onHookStored?: () => void;
  /** Logs unexpected errors (500s); the client only sees a problem without internals. */
  onError?: (err: unknown, path: string) => void;
}

const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'Sluice API',
    version: '1',
    description:
      'Accounts, contacts, jobs with signed callbacks, inbound webhooks, views of runs, the ledger and the cache.',
  },
};

/**
 * The HTTP API as a hono app (tested in-process with `app.request`). Routes are declared with
 * @hono/zod-openapi: the zod schemas that validate a request also produce `/v1/openapi.json`.
 * Order: metrics timing → problem rendering → /health (no key) → inbound hooks (their own signatures)
 * → unsubscribe links (their token) → API key → body limits → idempotency → routes.
 */
export function createApp(services: ServerServices, hooks: AppHooks = {}): OpenAPIHono<ServerEnv> {
  const app = new OpenAPIHono<ServerEnv>({
    defaultHook: (result) => {
      if (!result.success)
        throw validationProblem(
          result.error,
          result.target === 'json' ? 'request body' : `request ${result.target}`,
        );
    },
  });
  app.use('*', services.metrics.middleware());
  app.use('*', async (c, next) => {
    c.set('services', services);
    await next();
  });
  app.onError((err, c) => {
    const p = toProblem(err);
    if (p.status >= 500 && !(err instanceof ApiProblem)) hooks.onError?.(err, c.req.path);
    return problemResponse(c, p);
  });
  app.notFound((c) =>
    problemResponse(c, new ApiProblem(404, 'Not Found', `no route ${c.req.method} ${c.req.path}`)),
  );

  app.get('/health', async (c) => {
    const h = await readHealth(services.db);
    return c.json(
      { ...h, workersInProcess: services.workers, startedAt: services.startedAt.toISOString() },
      h.status === 'down' ? 503 : 200,
    );
  });
  registerHookRoutes(app, hooks.onHookStored ?? (() => {}));
  // Outreach's List-Unsubscribe links: the token is the authentication.
  registerUnsubscribeRoutes(app);
  // The dashboard (src/ui): its own session cookie instead of an API key header.
  app.route('/', createUi());

  app.use('*', requireApiKey(services.db));
  // GET and HEAD carry no body: skipped before hono's bodyLimit, whose first look at `c.req.raw.body`
  // makes @hono/node-server build a full fetch Request for the request (a tenth of the read path's CPU).
  const uploadLimit = bodyLimit({
    maxSize: services.uploadLimitBytes ?? 512 * 1024 * 1024,
    onError: tooLarge,
  });
  const jsonLimit = bodyLimit({ maxSize: services.jsonLimitBytes ?? 1024 * 1024, onError: tooLarge });
  app.use('*', async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    return (c.req.path === '/v1/imports' ? uploadLimit : jsonLimit)(c, next);
  });
  app.use('*', idempotency(services.db));

  app.get('/metrics', async (c) =>
    c.body(await renderMetrics(services.db, services.metrics), 200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    }),
  );
  registerRecordRoutes(app, 'account');
  registerRecordRoutes(app, 'contact');
  registerImportRoutes(app);
  registerJobRoutes(app);
  registerViewRoutes(app);
  app.doc31('/v1/openapi.json', OPENAPI);
  app.get('/v1/docs', (c) => c.html(renderDocsPage(app.getOpenAPI31Document(OPENAPI) as never)));
  return app;
}

function tooLarge(): never {
  throw new ApiProblem(413, 'Content Too Large', 'the request body is over the size limit', {
    slug: 'too-large',
  });
}
