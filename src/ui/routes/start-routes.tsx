/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, Hono } from 'hono';
import { ConfigError } from '../../errors.ts';
import { importFile } from '../../import/import-file.ts';
import { startJob } from '../../jobs/job-store.ts';
import { builtinPipelineNames } from '../../pipelines/resolve.ts';
import { checkCredentialsFor } from '../../providers/credentials.ts';
import { pageFrame } from '../frame.ts';
import { streamUpload, UploadError } from '../multipart-upload.ts';
import {
  ChooseForm,
  ForecastView,
  ImportResult,
  type StartChoice,
  UploadForm,
} from '../pages/start-page.tsx';
import {
  accountsOfImport,
  forecastSelection,
  readImport,
  type Scope,
  selectionOf,
} from '../queries/start-work.ts';
import { Flash, renderPage } from '../render.tsx';
import { sameToken } from '../session.ts';
import { CSRF_FIELD, CSRF_HEADER, requireSession, UiError } from '../ui-auth.ts';
import type { UiEnv } from '../ui-env.ts';
import { optionalInt } from './route-helpers.ts';

/** The upload limit: the server's (`sluice serve --upload-limit-mb`, as for POST /v1/imports). */
const uploadLimit = (c: Context<UiEnv>) => c.get('services').uploadLimitBytes ?? 512 * 1024 * 1024;

function parseScope(raw: string | undefined, where: string | undefined): Scope {
  const s = raw ?? 'all';
  if (s === 'all') return { kind: 'all' };
  if (s === 'where') {
    if (!where?.trim()) throw new UiError(400, 'choose a filter (e.g. state=VA) or "every account"');
    return { kind: 'where', where: where.trim() };
  }
  const m = /^import:(\d+)$/.exec(s);
  if (!m) throw new UiError(400, `records must be "all", "where" or "import:<id>", got "${s}"`);
  return { kind: 'import', importId: Number(m[1]) };
}

function parseBudget(raw: string | undefined): string {
  const b = (raw ?? '').trim();
  if (b === '') return '';
  const n = Number(b);
  if (!Number.isFinite(n) || n < 0) throw new UiError(400, `budget must be an amount in USD ≥ 0, got "${b}"`);
  return String(n);
}

async function choiceFrom(get: (k: string) => string | undefined, pipelines: string[]): Promise<StartChoice> {
  const pipeline = get('pipeline') || pipelines[0] || '';
  if (!pipelines.includes(pipeline))
    throw new UiError(400, `unknown pipeline "${pipeline}": choose one of ${pipelines.join(', ')}`);
  return { pipeline, scope: parseScope(get('scope'), get('where')), budget: parseBudget(get('budget')) };
}

/** A `--where` mistake or an unknown pipeline is the user's to fix: a 400 with the message. */
async function userErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ConfigError) throw new UiError(400, err.message);
    throw err;
  }
}

export function registerStartRoutes(ui: Hono<UiEnv>): void {
  const page = async (c: Context<UiEnv>, extra: unknown, importId?: number, choice?: StartChoice) => {
    const pipelines = await builtinPipelineNames();
    const frame = await pageFrame(c, 'Start work', '/start');
    const imp = importId ? await readImport(c.get('services').db, importId) : undefined;
    if (importId && !imp) throw new UiError(404, `import ${importId} does not exist`);
    const accounts = imp ? (await accountsOfImport(c.get('services').db, imp)).length : 0;
    const chosen: StartChoice = choice ?? {
      pipeline: pipelines[0] ?? '',
      scope: imp && accounts > 0 ? { kind: 'import', importId: imp.id } : { kind: 'all' },
      budget: '',
    };
    return renderPage(
      c,
      frame,
      <>
        <Flash c={c} />
        <UploadForm csrf={c.get('session').csrf} limitMb={Math.round(uploadLimit(c) / 1048576)} />
        {imp ? <ImportResult imp={imp} accounts={accounts} /> : null}
        <ChooseForm pipelines={pipelines} choice={chosen} {...(imp ? { importId: imp.id } : {})} />
        {extra as never}
      </>,
    );
  };

  ui.get('/start', requireSession('write'), async (c) =>
    page(c, null, optionalInt(c.req.query('import'), 'import')),
  );

  // The file is streamed to a temporary file as it arrives (never held in memory), then imported by
  // the same importer as `sluice import`. The CSRF field comes before the file in the form and is
  // checked before a byte of the file is written.
  ui.post('/start/import', requireSession('write', { csrf: 'route' }), async (c) => {
    const body = c.req.raw.body;
    if (!body) throw new UiError(400, 'choose a CSV file to upload');
    const session = c.get('session');
    const dir = await mkdtemp(join(tmpdir(), 'sluice-ui-upload-'));
    const path = join(dir, 'upload.csv');
    try {
      let upload: Awaited<ReturnType<typeof streamUpload>>;
      try {
        upload = await streamUpload(body, {
          contentType: c.req.header('content-type'),
          fileField: 'file',
          path,
          maxFileBytes: uploadLimit(c),
          beforeFile: (fields) => {
            if (c.req.header(CSRF_HEADER)) return; // checked by the middleware
            if (!sameToken(fields[CSRF_FIELD], session.csrf))
              throw new UploadError(
                403,
                'the form was missing its CSRF token or it was stale: reload the page and try again',
              );
          },
        });
      } catch (err) {
        if (err instanceof UploadError)
          throw new UiError(
            err.status,
            err.status === 413 ? `${err.message}: use sluice import for larger files` : err.message,
          );
        throw err;
      }
      if (!c.req.header(CSRF_HEADER) && !sameToken(upload.fields[CSRF_FIELD], session.csrf))
        throw new UiError(
          403,
          'the form was missing its CSRF token or it was stale: reload the page and try again',
        );
      if (upload.fileName === undefined || upload.bytes === 0)
        throw new UiError(400, 'choose a CSV file to upload');
      const kind = upload.fields.kind;
      const named = join(dir, (upload.fileName || 'upload.csv').replace(/[^\w.-]+/g, '_'));
      if (named !== path) await rename(path, named);
      const result = await userErrors(() =>
        importFile(c.get('services').db, {
          file: named,
          ...(kind === 'accounts' || kind === 'contacts' ? { kind } : {}),
        }),
      );
      return c.redirect(`/start?import=${result.importId}`, 303);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  ui.get('/start/forecast', requireSession('write'), async (c) => {
    const s = c.get('services');
    const pipelines = await builtinPipelineNames();
    const choice = await choiceFrom((k) => c.req.query(k), pipelines);
    const pipeline = await userErrors(() => s.engine.resolvePipeline(choice.pipeline));
    const selection = await selectionOf(s.db, choice.scope);
    const f = await userErrors(() => forecastSelection(s.db, pipeline, selection, s.sandbox === true));
    let warning: string | undefined;
    if (!s.sandbox)
      try {
        checkCredentialsFor(
          { providers: (pipeline.forecast ?? []).map((x) => x.provider), models: pipeline.models ?? [] },
          s.env,
        );
      } catch (err) {
        warning = (err as Error).message;
      }
    const importId = choice.scope.kind === 'import' ? choice.scope.importId : undefined;
    return page(
      c,
      <ForecastView f={f} choice={choice} csrf={c.get('session').csrf} {...(warning ? { warning } : {})} />,
      importId,
      choice,
    );
  });

  ui.post('/start/batch', requireSession('write'), async (c) => {
    const s = c.get('services');
    const body = await c.req.parseBody();
    const get = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : undefined);
    const choice = await choiceFrom(get, await builtinPipelineNames());
    await userErrors(() => s.engine.resolvePipeline(choice.pipeline));
    const selection = await selectionOf(s.db, choice.scope);
    // A job like POST /v1/jobs: the server's job watcher settles the batch when its runs are done.
    const batch = await userErrors(() =>
      startJob(s.db, s.engine.queue, {
        kind: 'pipeline',
        pipeline: choice.pipeline,
        selection,
        request: { source: 'dashboard', scope: choice.scope },
        apiKeyId: c.get('session').apiKey.id,
        ...(choice.budget !== '' ? { budgetUsd: Number(choice.budget) } : {}),
      }),
    );
    return c.redirect(
      `/batches/${batch.batchId}?notice=${encodeURIComponent(`batch ${batch.batchId} started: ${batch.total} runs`)}`,
      303,
    );
  });
}
