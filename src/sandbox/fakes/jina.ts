import { type Context, Hono } from 'hono';
import { htmlToMarkdown } from '../site-render.ts';
import type { World } from '../world.ts';
import { FakeKit, type FakeOptions, type FakeServer, malformed } from './fake-kit.ts';
import { lookupPage, proxiedTarget } from './sites.ts';

/**
 * Fake Jina Reader (docs/provider-apis.md §8): `GET /<url>` or `POST /` `{url}`, optional Bearer key,
 * JSON envelope with `Accept: application/json` (else the plain-text form), `X-Usage-Tokens`,
 * 429 `{retryAfter}` (20 RPM without a key, 200 with one), 402 when the token balance is spent,
 * 422 when the target cannot be loaded. Pages come from the sandbox world's websites.
 */
export interface JinaFakeOptions extends FakeOptions {
  /** Requests per minute with / without a key. Default 200 / 20. */
  rpmWithKey?: number;
  rpmWithoutKey?: number;
}

const jerr = (c: Context, code: number, status: number, name: string, message: string, extra: object = {}) =>
  c.json(
    { data: null, code, status, name, message, readableMessage: `${name}: ${message}`, ...extra },
    code as 400,
  );

export function createJinaFake(world: World, options: JinaFakeOptions = {}): FakeServer {
  const kit = new FakeKit('jina', options, { latencyMs: 250, coverage: 1, wrongRate: 0 }, world.seed);
  const app = new Hono();

  const read = async (c: Context, target: string | null) => {
    await kit.enter(c);
    const auth = c.req.header('authorization');
    if (auth !== undefined && auth !== `Bearer ${kit.apiKey}`) {
      return jerr(
        c,
        401,
        40103,
        'AuthenticationRequiredError',
        'Invalid API key, please get a new one from https://jina.ai',
      );
    }
    const rpm = auth ? (options.rpmWithKey ?? 200) : (options.rpmWithoutKey ?? 20);
    const t = kit.take(auth ? 'key' : 'ip', rpm, 60_000);
    if (!t.allowed || kit.control.mode === 'throttle') {
      const retryAfter = Math.max(1, Math.ceil(t.resetMs / 1000));
      return jerr(c, 429, 42903, 'RateLimitTriggeredError', 'Per IP rate limit exceeded', {
        retryAfter: kit.control.mode === 'throttle' ? 7 : retryAfter,
      });
    }
    if (kit.control.mode === 'quota') {
      return jerr(
        c,
        402,
        40203,
        'InsufficientBalanceError',
        'Account balance not enough to run this query, please recharge.',
      );
    }
    if (kit.control.mode === 'malformed') return malformed(c);
    if (!target) return jerr(c, 400, 40001, 'ParamValidationError', 'No URL provided');
    await kit.delay(target);
    if (kit.control.mode === 'server-error' || kit.fault(target)) {
      return jerr(c, 500, 50002, 'DownstreamServiceError', 'Downstream service error');
    }
    const hit = lookupPage(world, target);
    if (!hit) {
      return jerr(
        c,
        422,
        42206,
        'AssertionFailureError',
        `Failed to goto ${target}: net::ERR_NAME_NOT_RESOLVED`,
      );
    }
    const content = htmlToMarkdown(hit.page.html.replace(/<header>[\s\S]*?<\/header>/, ''));
    const tokens = Math.ceil(content.length / 4);
    c.header('X-Usage-Tokens', String(tokens));
    if ((c.req.header('accept') ?? '').includes('application/json')) {
      return c.json({
        code: 200,
        status: 20000,
        data: {
          title: hit.page.title,
          description: `${hit.company.name} in ${hit.company.city}, Virginia`,
          url: hit.url,
          content,
          publishedTime: null,
          metadata: { lang: 'en' },
          usage: { tokens },
        },
        meta: { usage: { tokens } },
      });
    }
    return c.text(`Title: ${hit.page.title}\n\nURL Source: ${hit.url}\n\nMarkdown Content:\n${content}`);
  };

  app.post('/', async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { url?: unknown };
    return read(c, typeof body.url === 'string' ? body.url : null);
  });
  app.get('*', (c) => read(c, proxiedTarget(c.req.url)));
  return { app, control: kit.control, stats: kit.stats, apiKey: kit.apiKey };
}
