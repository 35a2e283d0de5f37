import { z } from 'zod';
import { CriticalError, QuotaExhaustedError, ThrottledError } from '../../errors.ts';
import { defineOperation, defineProvider, type HttpResponse } from '../define-provider.ts';
import { defaultMapError, parseBody } from '../http.ts';
import { normalizeDomain, normalizeEmail, normalizeLinkedin, normalizePhone } from '../normalize-output.ts';
import { numberSetting } from '../settings.ts';

/**
 * Apollo.io (docs/provider-apis.md §2). Key in the `x-api-key` header (Bearer is for OAuth tokens only).
 *
 * Price: Apollo bills credits (people/match and organizations/enrich: 1 per matched record; the people
 * search is free) and does not publish USD per credit. Default $0.03/credit is an assumption (Basic
 * plan, $49–59/month, over ~2,000 credits); set `SLUICE_APOLLO_USD_PER_CREDIT` to your plan's rate.
 */
export const APOLLO_USD_PER_CREDIT = 0.03;
const PRICE_SETTING = 'SLUICE_APOLLO_USD_PER_CREDIT';
const apolloRef = { id: 'apollo', auth: { envVar: 'APOLLO_API_KEY', required: true } } as const;

/** Time until the next fixed window of `windowMs` starts (Apollo windows are clock-aligned). */
function untilNextWindow(windowMs: number, now = Date.now()): number {
  return windowMs - (now % windowMs) + 250;
}

/**
 * Apollo signals every limit with 429; which one is in the `x-*-requests-left` headers (and the
 * message). Minute and hour windows are throttles; the daily window is a quota until tomorrow.
 */
function mapApolloError(res: HttpResponse) {
  const body = res.body as { message?: unknown; error?: unknown; error_code?: unknown } | string | null;
  const message = typeof body === 'string' ? body : String((body && (body.message ?? body.error)) ?? '');
  if (res.status === 429) {
    const left = (name: string) => {
      const v = res.headers.get(`x-${name}-requests-left`);
      return v === null ? undefined : Number(v);
    };
    if (left('daily') === 0 || /per day|daily/i.test(message)) {
      return new QuotaExhaustedError(
        `apollo daily API limit reached (HTTP 429: ${message}); it resets tomorrow`,
      );
    }
    const windowMs = left('minute') === 0 || /per minute/i.test(message) ? 60_000 : 3_600_000;
    return new ThrottledError(`apollo rate limit hit (HTTP 429: ${message})`, {
      retryAfterMs: untilNextWindow(windowMs),
    });
  }
  if (res.status === 402) return new QuotaExhaustedError(`apollo credits are used up (HTTP 402: ${message})`);
  if (res.status === 403 && /not accessible|master|paid plans/i.test(message)) {
    return new CriticalError(
      `apollo refused the endpoint (HTTP 403: ${message}); it needs a master API key or a paid plan — check APOLLO_API_KEY`,
    );
  }
  return defaultMapError(apolloRef, res);
}

const employment = z.object({
  organization_name: z.string().nullable().optional(),
  title: z.string().nullable().optional(),
  start_date: z.string().nullable().optional(),
  end_date: z.string().nullable().optional(),
  current: z.boolean().nullable().optional(),
});

const matchResponse = z.object({
  person: z
    .object({
      id: z.string(),
      first_name: z.string().nullable().optional(),
      last_name: z.string().nullable().optional(),
      name: z.string().nullable().optional(),
      title: z.string().nullable().optional(),
      email: z.string().nullable().optional(),
      email_status: z.string().nullable().optional(),
      linkedin_url: z.string().nullable().optional(),
      city: z.string().nullable().optional(),
      state: z.string().nullable().optional(),
      employment_history: z.array(employment).nullable().optional(),
      organization: z
        .object({ name: z.string().nullable().optional(), primary_domain: z.string().nullable().optional() })
        .nullable()
        .optional(),
      phone_numbers: z
        .array(z.object({ sanitized_number: z.string().nullable().optional() }))
        .nullable()
        .optional(),
    })
    // No match is `"person": null`; some responses leave the key out.
    .nullish(),
});

const peopleMatch = defineOperation({
  description: 'enrich one person (work email, LinkedIn, title, employment history); 1 credit per match',
  input: z
    .object({
      first_name: z.string().min(1).optional(),
      last_name: z.string().min(1).optional(),
      name: z.string().min(1).optional(),
      email: z.string().min(3).optional(),
      domain: z.string().min(1).optional(),
      organization_name: z.string().min(1).optional(),
      linkedin_url: z.string().min(1).optional(),
    })
    .refine(
      (i) =>
        i.email ||
        i.linkedin_url ||
        ((i.name || (i.first_name && i.last_name)) && (i.domain || i.organization_name)),
      {
        message: 'give an email, a linkedin_url, or a name with a domain or organization_name',
      },
    ),
  output: z.object({
    apollo_id: z.string(),
    email: z.string().nullable(),
    email_status: z.string().nullable(),
    linkedin_url: z.string().nullable(),
    title: z.string().nullable(),
    phone: z.string().nullable(),
    organization_name: z.string().nullable(),
    employment_history: z.array(
      z.object({
        organization_name: z.string().nullable(),
        title: z.string().nullable(),
        start_date: z.string().nullable(),
        end_date: z.string().nullable(),
        current: z.boolean(),
      }),
    ),
  }),
  priceUsd: APOLLO_USD_PER_CREDIT,
  // Emails and domains are case-insensitive; names, titles and LinkedIn URLs are keyed as sent.
  caseInsensitive: ['email', 'domain'],
  maxPriceUsd: (_input, env) => numberSetting({ env }, PRICE_SETTING, APOLLO_USD_PER_CREDIT),
  async run(ctx, input) {
    const res = await ctx.request({
      method: 'POST',
      path: '/people/match',
      body: {
        ...input,
        domain: input.domain ? (normalizeDomain(input.domain) ?? input.domain) : undefined,
        reveal_personal_emails: false,
        reveal_phone_number: false,
      },
    });
    const { person } = parseBody(apolloRef, matchResponse, res);
    if (!person) return { found: false, costUsd: 0 };
    const status = person.email_status ?? null;
    return {
      found: true,
      output: {
        apollo_id: person.id,
        email: normalizeEmail(person.email),
        email_status: status,
        linkedin_url: normalizeLinkedin(person.linkedin_url),
        title: person.title ?? null,
        phone: normalizePhone(person.phone_numbers?.[0]?.sanitized_number),
        organization_name: person.organization?.name ?? null,
        employment_history: (person.employment_history ?? []).map((e) => ({
          organization_name: e.organization_name ?? null,
          title: e.title ?? null,
          start_date: e.start_date ?? null,
          end_date: e.end_date ?? null,
          current: e.current ?? false,
        })),
      },
      costUsd: numberSetting(ctx, PRICE_SETTING, APOLLO_USD_PER_CREDIT),
      confidence: status === 'verified' ? 0.9 : status === 'extrapolated' || status === 'guessed' ? 0.6 : 0.5,
    };
  },
});

const orgResponse = z.object({
  organization: z
    .object({
      id: z.string().optional(),
      name: z.string().nullable().optional(),
      website_url: z.string().nullable().optional(),
      linkedin_url: z.string().nullable().optional(),
      primary_domain: z.string().nullable().optional(),
      phone: z.string().nullable().optional(),
      industry: z.string().nullable().optional(),
      estimated_num_employees: z.number().nullable().optional(),
      founded_year: z.number().nullable().optional(),
      city: z.string().nullable().optional(),
      state: z.string().nullable().optional(),
      country: z.string().nullable().optional(),
    })
    .nullable()
    .optional(),
});

const organizationsEnrich = defineOperation({
  description:
    'enrich a company by domain (name, website, LinkedIn, phone, industry, size); 1 credit per match',
  input: z.object({ domain: z.string().min(1) }),
  output: z.object({
    name: z.string().nullable(),
    domain: z.string().nullable(),
    website: z.string().nullable(),
    linkedin_url: z.string().nullable(),
    phone: z.string().nullable(),
    industry: z.string().nullable(),
    employees: z.number().nullable(),
    founded_year: z.number().nullable(),
    city: z.string().nullable(),
    state: z.string().nullable(),
  }),
  priceUsd: APOLLO_USD_PER_CREDIT,
  maxPriceUsd: (_input, env) => numberSetting({ env }, PRICE_SETTING, APOLLO_USD_PER_CREDIT),
  cacheKey: (input) => normalizeDomain(input.domain) ?? input.domain.toLowerCase(),
  async run(ctx, input) {
    const domain = normalizeDomain(input.domain) ?? input.domain.toLowerCase();
    const res = await ctx.request({ method: 'GET', path: '/organizations/enrich', query: { domain } });
    const org = parseBody(apolloRef, orgResponse, res).organization;
    if (!org?.id) return { found: false, costUsd: 0 };
    return {
      found: true,
      output: {
        name: org.name ?? null,
        domain: normalizeDomain(org.primary_domain ?? org.website_url),
        website: org.website_url ?? null,
        linkedin_url: normalizeLinkedin(org.linkedin_url),
        phone: normalizePhone(org.phone),
        industry: org.industry ?? null,
        employees: org.estimated_num_employees ?? null,
        founded_year: org.founded_year ?? null,
        city: org.city ?? null,
        state: org.state ?? null,
      },
      costUsd: numberSetting(ctx, PRICE_SETTING, APOLLO_USD_PER_CREDIT),
    };
  },
});

const searchResponse = z.object({
  total_entries: z.number().optional(),
  pagination: z.object({ total_entries: z.number() }).optional(),
  people: z.array(
    z.object({
      id: z.string(),
      first_name: z.string().nullable().optional(),
      last_name: z.string().nullable().optional(),
      last_name_obfuscated: z.string().nullable().optional(),
      title: z.string().nullable().optional(),
      has_email: z.boolean().nullable().optional(),
    }),
  ),
});

const peopleSearch = defineOperation({
  description: 'list people at a company by domain and titles (free; no emails or phones: use people-match)',
  input: z.object({
    domain: z.string().min(1),
    titles: z.array(z.string()).optional(),
    /** Default 25, max 100. */
    per_page: z.number().int().min(1).max(100).optional(),
    page: z.number().int().min(1).optional(),
  }),
  output: z.object({
    total: z.number(),
    people: z.array(
      z.object({
        apollo_id: z.string(),
        first_name: z.string().nullable(),
        last_name: z.string().nullable(),
        title: z.string().nullable(),
        has_email: z.boolean(),
      }),
    ),
  }),
  priceUsd: 0,
  caseInsensitive: ['domain'],
  async run(ctx, input) {
    const res = await ctx.request({
      method: 'POST',
      path: '/mixed_people/api_search',
      body: {
        q_organization_domains_list: [normalizeDomain(input.domain) ?? input.domain],
        person_titles: input.titles,
        page: input.page ?? 1,
        per_page: input.per_page ?? 25,
      },
    });
    const body = parseBody(apolloRef, searchResponse, res);
    if (body.people.length === 0) return { found: false, costUsd: 0 };
    return {
      found: true,
      output: {
        total: body.total_entries ?? body.pagination?.total_entries ?? body.people.length,
        people: body.people.map((p) => ({
          apollo_id: p.id,
          first_name: p.first_name ?? null,
          // The search hides last names ("Ga***u"); people-match reveals them.
          last_name: p.last_name ?? p.last_name_obfuscated ?? null,
          title: p.title ?? null,
          has_email: p.has_email ?? false,
        })),
      },
      costUsd: 0,
    };
  },
});

export const apollo = defineProvider({
  id: 'apollo',
  name: 'Apollo.io',
  auth: { envVar: 'APOLLO_API_KEY', required: true },
  baseUrl: 'https://api.apollo.io/api/v1',
  applyAuth: (req, apiKey) => ({ ...req, headers: { ...req.headers, 'x-api-key': apiKey } }),
  // Plan-dependent; these match a typical paid plan. Lower them for the free plan (50/min, 100/h, 300/day).
  limits: [
    { limit: 200, windowMs: 60_000, label: '200/min' },
    { limit: 2_000, windowMs: 3_600_000, label: '2000/h' },
  ],
  concurrency: 8,
  mapError: mapApolloError,
  // The people search is free (it needs a master key, which the people search step needs anyway).
  async probe(ctx) {
    const res = await ctx.request({
      method: 'POST',
      path: '/mixed_people/api_search',
      body: { q_organization_domains_list: ['apollo.io'], per_page: 1 },
    });
    const left = res.headers.get('x-minute-requests-left');
    return `key valid${left ? `; ${left} requests left this minute` : ''}`;
  },
  operations: {
    'people-match': peopleMatch,
    'organizations-enrich': organizationsEnrich,
    'people-search': peopleSearch,
  },
});
