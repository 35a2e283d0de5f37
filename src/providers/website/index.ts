import { z } from 'zod';
import { CriticalError, NotFoundError, RetryableError } from '../../errors.ts';
import { OutboundNetworkError, OutboundRefusedError } from '../../net/outbound-error.ts';
import { parseOutboundUrl, safeFetch } from '../../net/safe-fetch.ts';
import {
  defineOperation,
  defineProvider,
  type HttpResponse,
  type OperationContext,
} from '../define-provider.ts';
import { defaultMapError } from '../http.ts';
import { normalizeDomain } from '../normalize-output.ts';
import { extractPage, type PageFacts } from './extract.ts';

/**
 * The built-in website fetcher and extractor: no key, no cost. Page URLs come from imported data and
 * from model answers, so they are hostile: a direct fetch crosses the outbound edge
 * (src/net/safe-fetch.ts: internal addresses refused, the checked address pinned, every redirect
 * re-checked, 3 MiB and 30 s caps). With `SLUICE_WEBSITE_BASE_URL` set the page is fetched through
 * that proxy instead (`GET <base>/<absolute url>`, the reader-proxy form the sandbox's site server
 * answers): the proxy is configuration, like every provider's base URL, and does the fetching.
 */
const MAX_TEXT = 20_000;
const MAX_PAGE_BYTES = 3 * 1024 * 1024;
const HEADERS = {
  accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.5',
  'user-agent': 'Sluice/0.1 (+https://github.com/sluice)',
};
const STAFF_LINK = /staff|team|about|contact|leadership|directory|people|management/i;

const staffEntry = z.object({
  name: z.string(),
  title: z.string(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
});
const pageOutput = z.object({
  url: z.string(),
  title: z.string().nullable(),
  description: z.string().nullable(),
  text: z.string(),
  links: z.array(z.object({ url: z.string(), text: z.string() })),
  emails: z.array(z.string()),
  phones: z.array(z.string()),
  staff: z.array(staffEntry),
});

/** Accepts `example.com`, `www.example.com/x`, `https://...`; refuses other schemes. */
export function toHttpUrl(raw: string): URL {
  const v = raw.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:/i.test(v) ? v : `https://${v}`;
  try {
    return parseOutboundUrl(withScheme);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new CriticalError(
      `website: ${JSON.stringify(raw.slice(0, 200))}: ${why}; only http(s) pages are fetched`,
      {
        cause: err,
      },
    );
  }
}

/** True when a network failure says the host name does not exist (a dead domain, common in imports). */
function isUnknownHost(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'ENOTFOUND') return true;
  }
  return false;
}

/** GET the page: through the configured proxy, else directly across the outbound edge. */
async function get(ctx: OperationContext, url: URL): Promise<HttpResponse & { url: string }> {
  if (ctx.baseUrl) {
    const res = await ctx
      .request({ method: 'GET', path: `/${url.href}`, headers: HEADERS, responseType: 'text' })
      .catch((err: unknown) => {
        if (err instanceof RetryableError && isUnknownHost(err))
          throw new NotFoundError(`website: ${url.hostname} does not resolve (no such domain)`, {
            cause: err,
          });
        throw err;
      });
    return { ...res, url: url.href };
  }
  const res = await safeFetch(url, {
    headers: HEADERS,
    timeoutMs: ctx.timeoutMs,
    maxBytes: MAX_PAGE_BYTES,
    signal: ctx.signal,
    ...ctx.services.outbound,
  }).catch((err: unknown) => {
    // A domain that does not resolve will not resolve on retry either: nothing to find.
    if (err instanceof OutboundNetworkError && err.reason === 'unknown_host')
      throw new NotFoundError(`website: ${err.message}`, { cause: err });
    throw err;
  });
  const text = res.text();
  const response = { status: res.status, headers: res.headers, body: text, text, url: res.url };
  if (res.status < 200 || res.status >= 300) throw defaultMapError({ id: 'website' }, response);
  return response;
}

async function fetchPage(ctx: OperationContext, url: URL): Promise<PageFacts & { url: string }> {
  const res = await get(ctx, url);
  const type = res.headers.get('content-type') ?? '';
  if (type && !/text\/html|application\/xhtml|text\/plain/i.test(type)) {
    throw new CriticalError(
      `website: ${url.href} is not a web page (content-type ${type}); nothing to extract`,
    );
  }
  // Links are relative to where the page was found (after redirects).
  const facts = extractPage(res.text, res.url);
  return { url: res.url, ...facts, text: facts.text.slice(0, MAX_TEXT) };
}

const fetchPageOp = defineOperation({
  description: 'fetch one page and extract its title, text, links, emails, phones and staff entries',
  input: z.object({ url: z.string().min(1) }),
  output: pageOutput,
  priceUsd: 0,
  cacheTtlMs: 7 * 86_400_000,
  async run(ctx, input) {
    const page = await fetchPage(ctx, toHttpUrl(input.url));
    return { found: true, output: page, costUsd: 0 };
  },
});

const scrapeSite = defineOperation({
  description: 'fetch a home page plus its staff/team/about/contact pages and merge what they show',
  input: z.object({
    url: z.string().min(1),
    /** Pages to fetch including the home page. Default 4. */
    max_pages: z.number().int().min(1).max(10).optional(),
  }),
  output: pageOutput.extend({ domain: z.string().nullable(), pages: z.array(z.string()) }),
  priceUsd: 0,
  cacheTtlMs: 7 * 86_400_000,
  async run(ctx, input) {
    const home = toHttpUrl(input.url);
    const first = await fetchPage(ctx, home);
    const max = input.max_pages ?? 4;
    const sameSite = (u: string) => normalizeDomain(u) === normalizeDomain(home.href);
    const next = first.links
      .filter((l) => sameSite(l.url) && l.url !== first.url && STAFF_LINK.test(`${l.url} ${l.text}`))
      .map((l) => l.url)
      .filter((u, i, all) => all.indexOf(u) === i)
      .slice(0, max - 1);
    const pages = [first];
    for (const url of next) {
      try {
        pages.push(await fetchPage(ctx, toHttpUrl(url)));
      } catch (err) {
        // A missing or refused sub-page (a link to an internal address, an oversize page) does not
        // spoil what the home page gave; anything else (network, throttles) propagates.
        if (!(err instanceof NotFoundError || err instanceof OutboundRefusedError)) throw err;
      }
    }
    const staff = new Map<string, z.infer<typeof staffEntry>>();
    for (const s of pages.flatMap((p) => p.staff)) {
      const key = s.name.toLowerCase();
      const prev = staff.get(key);
      staff.set(key, prev ? { ...prev, email: prev.email ?? s.email, phone: prev.phone ?? s.phone } : s);
    }
    const uniq = (xs: string[]) => [...new Set(xs)];
    return {
      found: true,
      output: {
        url: first.url,
        domain: normalizeDomain(first.url),
        title: first.title,
        description: first.description,
        text: pages
          .map((p) => p.text)
          .join('\n\n')
          .slice(0, MAX_TEXT),
        links: first.links,
        emails: uniq(pages.flatMap((p) => p.emails)),
        phones: uniq(pages.flatMap((p) => p.phones)),
        staff: [...staff.values()],
        pages: pages.map((p) => p.url),
      },
      costUsd: 0,
    };
  },
});

export const website = defineProvider({
  id: 'website',
  name: 'Website fetcher (built-in)',
  baseUrl: '',
  limits: [{ limit: 10, windowMs: 1000, label: '10/s' }],
  concurrency: 8,
  free: true,
  async probe(ctx) {
    if (!ctx.baseUrl) return 'direct fetching (no proxy configured)';
    try {
      await fetchPage(ctx, new URL('https://example.com/'));
    } catch (err) {
      if (!(err instanceof Error && err.name === 'NotFoundError')) throw err;
    }
    return `proxy ${ctx.baseUrl} reachable`;
  },
  operations: { 'fetch-page': fetchPageOp, 'scrape-site': scrapeSite },
});
