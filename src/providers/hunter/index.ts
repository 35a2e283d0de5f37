import { z } from 'zod';
import {
  CriticalError,
  NotFoundError,
  QuotaExhaustedError,
  RetryableError,
  ThrottledError,
} from '../../errors.ts';
import { defineOperation, defineProvider, type HttpResponse } from '../define-provider.ts';
import { defaultMapError, parseBody } from '../http.ts';
import { normalizeDomain, normalizeEmail, normalizeLinkedin, normalizePhone } from '../normalize-output.ts';
import { numberSetting } from '../settings.ts';

/**
 * Hunter.io v2 (docs/provider-apis.md §1). Key in the `X-API-KEY` header (the docs also accept the
 * `api_key` query parameter; the header keeps the key out of URLs and logs).
 *
 * Price: Hunter bills credits. Default USD per credit = Starter plan, $49/month for 2,000 credits
 * (monthly billing, hunter.io/pricing) = $0.0245; override with `SLUICE_HUNTER_USD_PER_CREDIT`.
 * Finder: 1 credit per email found; domain-search: 1 credit per 1–10 emails returned; verifier: 0.5.
 * Nothing found = nothing charged.
 */
export const HUNTER_USD_PER_CREDIT = 0.0245;
const PRICE_SETTING = 'SLUICE_HUNTER_USD_PER_CREDIT';
/** USD per credit at the user's plan (budgets reserve at this price). */
const credit = (env: Readonly<Record<string, string | undefined>>) =>
  numberSetting({ env }, PRICE_SETTING, HUNTER_USD_PER_CREDIT);
/** Identity used by error mapping and body parsing (the definition object is declared last). */
const hunterRef = { id: 'hunter', auth: { envVar: 'HUNTER_API_KEY', required: true } } as const;

const errorBody = z.object({
  errors: z.array(
    z.object({ id: z.string().optional(), code: z.number().optional(), details: z.string().optional() }),
  ),
});

/** Hunter: 403 = rate limit hit, 429 = monthly credits used up (not a throttle), 451 = claimed email. */
function mapHunterError(res: HttpResponse) {
  const parsed = errorBody.safeParse(res.body);
  const first = parsed.success ? parsed.data.errors[0] : undefined;
  const detail = first
    ? `${first.id ?? ''}${first.details ? `: ${first.details}` : ''}`
    : res.text.slice(0, 160);
  if (res.status === 403) {
    return new ThrottledError(
      `hunter rate limit hit (HTTP 403 ${detail}); limits are 15/s + 500/min (verifier 10/s + 300/min)`,
    );
  }
  if (res.status === 429) {
    return new QuotaExhaustedError(
      `hunter monthly credits are used up (HTTP 429 ${detail}); buy credits or wait for the next billing month`,
    );
  }
  if (res.status === 451)
    return new NotFoundError(`hunter: the person asked Hunter not to process their email (451 ${detail})`);
  return defaultMapError(hunterRef, res);
}

const sourceCount = (s: unknown) => (Array.isArray(s) ? s.length : 0);

const finderResponse = z.object({
  data: z.object({
    email: z.string().nullable().optional(),
    score: z.number().nullable().optional(),
    domain: z.string().nullable().optional(),
    position: z.string().nullable().optional(),
    linkedin_url: z.string().nullable().optional(),
    phone_number: z.string().nullable().optional(),
    sources: z.array(z.unknown()).optional(),
    verification: z.object({ status: z.string().nullable().optional() }).nullable().optional(),
  }),
});

const emailFinder = defineOperation({
  description: 'find the work email of a person at a domain or company (1 credit per email found)',
  input: z
    .object({
      domain: z.string().min(1).optional(),
      company: z.string().min(1).optional(),
      first_name: z.string().min(1).optional(),
      last_name: z.string().min(1).optional(),
      full_name: z.string().min(1).optional(),
    })
    .refine((i) => i.domain || i.company, { message: 'domain or company is required' })
    .refine((i) => i.full_name || (i.first_name && i.last_name), {
      message: 'first_name and last_name (or full_name) are required',
    }),
  output: z.object({
    email: z.string(),
    score: z.number().nullable(),
    position: z.string().nullable(),
    linkedin_url: z.string().nullable(),
    phone: z.string().nullable(),
    verification_status: z.string().nullable(),
    sources: z.number(),
  }),
  priceUsd: HUNTER_USD_PER_CREDIT,
  caseInsensitive: ['domain'],
  maxPriceUsd: (_input, env) => credit(env),
  async run(ctx, input) {
    const res = await ctx.request({
      method: 'GET',
      path: '/email-finder',
      query: {
        domain: input.domain ? (normalizeDomain(input.domain) ?? input.domain) : undefined,
        company: input.domain ? undefined : input.company,
        first_name: input.first_name,
        last_name: input.last_name,
        full_name: input.first_name && input.last_name ? undefined : input.full_name,
      },
    });
    const { data } = parseBody(hunterRef, finderResponse, res);
    const email = normalizeEmail(data.email);
    if (!email) return { found: false, costUsd: 0 };
    return {
      found: true,
      output: {
        email,
        score: data.score ?? null,
        position: data.position ?? null,
        linkedin_url: normalizeLinkedin(data.linkedin_url),
        phone: normalizePhone(data.phone_number),
        verification_status: data.verification?.status ?? null,
        sources: sourceCount(data.sources),
      },
      costUsd: numberSetting(ctx, PRICE_SETTING, HUNTER_USD_PER_CREDIT),
      confidence: data.score != null ? data.score / 100 : undefined,
    };
  },
});

const domainEmail = z.object({
  value: z.string(),
  type: z.string().nullable().optional(),
  confidence: z.number().nullable().optional(),
  first_name: z.string().nullable().optional(),
  last_name: z.string().nullable().optional(),
  position: z.string().nullable().optional(),
  seniority: z.string().nullable().optional(),
  department: z.string().nullable().optional(),
  linkedin: z.string().nullable().optional(),
  phone_number: z.string().nullable().optional(),
  verification: z.object({ status: z.string().nullable().optional() }).nullable().optional(),
});

const domainSearchResponse = z.object({
  data: z.object({
    domain: z.string().nullable().optional(),
    pattern: z.string().nullable().optional(),
    organization: z.string().nullable().optional(),
    accept_all: z.boolean().nullable().optional(),
    emails: z.array(domainEmail),
  }),
  meta: z.object({ results: z.number().optional() }).optional(),
});

const domainSearch = defineOperation({
  description:
    "list the emails Hunter knows at a domain, and the domain's email pattern (1 credit per 10 emails)",
  input: z.object({
    domain: z.string().min(1),
    /** Default 10 (Hunter's default), max 100. */
    limit: z.number().int().min(1).max(100).optional(),
    type: z.enum(['personal', 'generic']).optional(),
  }),
  output: z.object({
    domain: z.string(),
    pattern: z.string().nullable(),
    organization: z.string().nullable(),
    accept_all: z.boolean().nullable(),
    total: z.number(),
    emails: z.array(
      z.object({
        email: z.string(),
        first_name: z.string().nullable(),
        last_name: z.string().nullable(),
        position: z.string().nullable(),
        confidence: z.number().nullable(),
        linkedin_url: z.string().nullable(),
        phone: z.string().nullable(),
        verification_status: z.string().nullable(),
      }),
    ),
  }),
  priceUsd: HUNTER_USD_PER_CREDIT,
  caseInsensitive: ['domain'],
  // 1 credit per 10 emails returned
  maxPriceUsd: (input, env) => Math.max(1, Math.ceil((input.limit ?? 10) / 10)) * credit(env),
  async run(ctx, input) {
    const domain = normalizeDomain(input.domain) ?? input.domain.toLowerCase();
    const res = await ctx.request({
      method: 'GET',
      path: '/domain-search',
      query: { domain, limit: input.limit ?? 10, type: input.type },
    });
    const { data, meta } = parseBody(hunterRef, domainSearchResponse, res);
    const emails = data.emails.flatMap((e) => {
      const email = normalizeEmail(e.value);
      if (!email) return [];
      return [
        {
          email,
          first_name: e.first_name ?? null,
          last_name: e.last_name ?? null,
          position: e.position ?? null,
          confidence: e.confidence ?? null,
          linkedin_url: normalizeLinkedin(e.linkedin),
          phone: normalizePhone(e.phone_number),
          verification_status: e.verification?.status ?? null,
        },
      ];
    });
    if (emails.length === 0 && !data.pattern) return { found: false, costUsd: 0 };
    const credits = Math.ceil(data.emails.length / 10);
    return {
      found: true,
      output: {
        domain,
        pattern: data.pattern ?? null,
        organization: data.organization ?? null,
        accept_all: data.accept_all ?? null,
        total: meta?.results ?? emails.length,
        emails,
      },
      costUsd: credits * numberSetting(ctx, PRICE_SETTING, HUNTER_USD_PER_CREDIT),
    };
  },
});

const verifierResponse = z.object({
  data: z.object({
    status: z.enum(['valid', 'invalid', 'accept_all', 'webmail', 'disposable', 'unknown']),
    score: z.number().nullable().optional(),
    email: z.string(),
    accept_all: z.boolean().nullable().optional(),
    disposable: z.boolean().nullable().optional(),
    webmail: z.boolean().nullable().optional(),
  }),
});

/** How long to wait between polls when the verifier answers 202 (still running; billed once). */
const VERIFY_POLL_MS = 500;
const VERIFY_POLLS = 3;

const emailVerifier = defineOperation({
  description: 'check whether an email address is deliverable (0.5 credit)',
  input: z.object({ email: z.string().min(3) }),
  output: z.object({
    email: z.string(),
    status: z.enum(['valid', 'invalid', 'accept_all', 'webmail', 'disposable', 'unknown']),
    score: z.number().nullable(),
    accept_all: z.boolean().nullable(),
  }),
  priceUsd: HUNTER_USD_PER_CREDIT * 0.5,
  maxPriceUsd: (_input, env) => 0.5 * credit(env),
  // Its own windows, on top of the account's 15/s + 500/min (Hunter does not say whether the
  // verifier's calls count there too: counted, so neither can be exceeded).
  limits: [
    { limit: 10, windowMs: 1000, label: '10/s' },
    { limit: 300, windowMs: 60_000, label: '300/min' },
  ],
  cacheKey: (input) => input.email.trim().toLowerCase(),
  async run(ctx, input) {
    const email = normalizeEmail(input.email);
    if (!email)
      throw new CriticalError(
        `hunter email-verifier: ${JSON.stringify(input.email)} is not an email address`,
      );
    for (let poll = 0; ; poll++) {
      const res = await ctx.request({
        method: 'GET',
        path: '/email-verifier',
        query: { email },
        acceptStatus: [202, 222],
      });
      if (res.status === 222) {
        throw new RetryableError(
          `hunter email-verifier: the mail server of ${email} failed the SMTP check (222); retry later`,
        );
      }
      if (res.status === 202) {
        if (poll + 1 >= VERIFY_POLLS) {
          throw new RetryableError(
            `hunter email-verifier: verification of ${email} still running after ${VERIFY_POLLS} polls (202)`,
          );
        }
        await new Promise((r) => setTimeout(r, VERIFY_POLL_MS));
        continue;
      }
      const { data } = parseBody(hunterRef, verifierResponse, res);
      return {
        found: true,
        output: {
          email: normalizeEmail(data.email) ?? email,
          status: data.status,
          score: data.score ?? null,
          accept_all: data.accept_all ?? null,
        },
        costUsd: 0.5 * numberSetting(ctx, PRICE_SETTING, HUNTER_USD_PER_CREDIT),
        confidence: data.score != null ? data.score / 100 : undefined,
      };
    }
  },
});

export const hunter = defineProvider({
  id: 'hunter',
  name: 'Hunter.io',
  auth: { envVar: 'HUNTER_API_KEY', required: true },
  baseUrl: 'https://api.hunter.io/v2',
  applyAuth: (req, apiKey) => ({ ...req, headers: { ...req.headers, 'X-API-KEY': apiKey } }),
  // Per API key: email-finder and domain-search (and the verifier) count together.
  limits: [
    { limit: 15, windowMs: 1000, label: '15/s' },
    { limit: 500, windowMs: 60_000, label: '500/min' },
  ],
  concurrency: 10,
  mapError: mapHunterError,
  // GET /account is free and needs a valid key.
  async probe(ctx) {
    const res = await ctx.request({ method: 'GET', path: '/account' });
    const credits = (
      res.body as { data?: { requests?: { credits?: { used?: number; available?: number } } } }
    )?.data?.requests?.credits;
    return credits ? `key valid; credits used ${credits.used} of ${credits.available}` : 'key valid';
  },
  operations: {
    'email-finder': emailFinder,
    'domain-search': domainSearch,
    'email-verifier': emailVerifier,
  },
});
