import { type Context, Hono } from 'hono';
import { splitFullName } from '../../normalize/person-name.ts';
import { unit } from '../rng.ts';
import { applyPattern, type Company, EMAIL_PATTERNS, type Person, slugify, type World } from '../world.ts';
import { FakeKit, type FakeOptions, type FakeServer, malformed } from './fake-kit.ts';

/**
 * Fake Apollo.io (docs/provider-apis.md §2): `x-api-key` auth, people/match, organizations/enrich,
 * mixed_people/api_search (and the legacy mixed_people/search), fixed-window limits reported in the
 * `x-rate-limit-*` / `x-*-requests-left` / `x-*-usage` headers on every response, 429 with Apollo's
 * message body when a window is spent. Like Hunter's fake, wrong emails look like right ones: Apollo
 * extrapolates the domain's pattern for people whose address is not published (wrong for nicknames,
 * legacy addresses, collisions), and `email_status` is `verified` or `extrapolated` at the same rate
 * whether the address is right or not.
 */
export const APOLLO_RATES = {
  /** People Apollo has an email for. */
  hasEmail: 0.85,
  /** Emails marked `verified` (the rest `extrapolated`), right or wrong alike. */
  verified: 0.7,
} as const;
export interface ApolloFakeOptions extends FakeOptions {
  /** Requests per minute / hour / day. Default 200 / 2 000 / 20 000. */
  perMinute?: number;
  perHour?: number;
  perDay?: number;
}

const hexId = (seed: number, key: string) =>
  Array.from({ length: 3 }, (_, i) =>
    Math.floor(unit(seed, `${key}:${i}`) * 0xffffffff)
      .toString(16)
      .padStart(8, '0'),
  ).join('');

export function createApolloFake(world: World, options: ApolloFakeOptions = {}): FakeServer {
  const kit = new FakeKit('apollo', options, { latencyMs: 120, coverage: 0.65, wrongRate: 0.03 }, world.seed);
  const windows = [
    { name: 'minute', header: 'minute', limit: options.perMinute ?? 200, ms: 60_000, word: 'minute' },
    { name: 'hourly', header: 'hourly', limit: options.perHour ?? 2_000, ms: 3_600_000, word: 'hour' },
    { name: 'daily', header: 'daily', limit: options.perDay ?? 20_000, ms: 86_400_000, word: 'day' },
  ];
  const app = new Hono();

  const guard = async (c: Context, endpoint: string, key: string): Promise<Response | undefined> => {
    await kit.enter(c);
    if (c.req.header('x-api-key') !== kit.apiKey) {
      return c.json({ error: 'Invalid access credentials.', error_code: 'INVALID_API_KEY' }, 401);
    }
    let spent: (typeof windows)[number] | undefined;
    for (const w of windows) {
      const t = kit.take(`${endpoint}:${w.name}`, w.limit, w.ms);
      c.header(`x-rate-limit-${w.header}`, String(w.limit));
      c.header(`x-${w.header}-requests-left`, String(t.remaining));
      c.header(`x-${w.header}-usage`, String(t.used));
      if (!t.allowed && !spent) spent = w;
    }
    if (kit.control.mode === 'throttle') spent = windows[0];
    if (kit.control.mode === 'quota') spent = windows[2];
    if (spent) {
      c.header(`x-${spent.header}-requests-left`, '0');
      return c.json(
        {
          message: `The maximum number of api calls allowed for api/v1/${endpoint} is ${spent.limit} times per ${spent.word}. Please upgrade your plan from https://app.apollo.io/#/settings/plans/upgrade.`,
          error_details: { code: 'USAGE.RATE_LIMIT.API_RATE_LIMIT_EXCEEDED' },
        },
        429,
      );
    }
    if (kit.control.mode === 'malformed') return malformed(c);
    await kit.delay(key);
    if (kit.control.mode === 'server-error' || kit.fault(key))
      return c.json({ error: 'Internal server error' }, 500);
    return undefined;
  };

  /** Apollo reads params from the JSON body or the query string. */
  const params = async (c: Context): Promise<Record<string, unknown>> => {
    const query: Record<string, unknown> = { ...c.req.query() };
    for (const [k, v] of Object.entries(c.req.queries())) if (k.endsWith('[]')) query[k.slice(0, -2)] = v;
    if (c.req.method !== 'POST') return query;
    const body = await c.req.json().catch(() => ({}));
    return { ...query, ...(body && typeof body === 'object' ? body : {}) };
  };

  const orgJson = (company: Company) => ({
    id: hexId(kit.seed, `org:${company.id}`),
    name: company.name,
    website_url: `http://www.${company.domain}`,
    linkedin_url: `http://www.linkedin.com/company/${slugify(company.name)}`,
    twitter_url: null,
    facebook_url: `https://facebook.com/${company.domain.replace(/\.com$/, '')}`,
    primary_phone: { number: company.phone, sanitized_number: company.phone },
    languages: [],
    alexa_ranking: null,
    phone: company.phone,
    linkedin_uid: String(Math.floor(unit(kit.seed, `org:uid:${company.id}`) * 9e7)),
    founded_year: company.course?.yearOpened ?? 1990 + Math.floor(unit(kit.seed, `org:f:${company.id}`) * 30),
    logo_url: null,
    primary_domain: company.domain,
    industry: company.kind === 'golf-course' ? 'leisure, travel & tourism' : 'wholesale',
    estimated_num_employees: 10 + company.people.length * 9,
    keywords: company.kind === 'golf-course' ? ['golf', 'golf course', 'country club'] : ['golf supplies'],
    city: company.city,
    state: 'Virginia',
    country: 'United States',
    short_description: `${company.name} in ${company.city}, Virginia.`,
  });

  const personJson = (company: Company, p: Person) => {
    const other = EMAIL_PATTERNS[(EMAIL_PATTERNS.indexOf(company.emailPattern) + 2) % EMAIL_PATTERNS.length]!;
    const hasEmail = unit(kit.seed, `apollo:email:${p.id}`) < APOLLO_RATES.hasEmail;
    const verified = unit(kit.seed, `apollo:verified:${p.id}`) < APOLLO_RATES.verified;
    const email = kit.wrong(p.id)
      ? applyPattern(other, p.firstName, p.lastName, company.domain)
      : p.emailOnSite || p.emailKind === 'pattern'
        ? p.email
        : applyPattern(company.emailPattern, p.firstName, p.lastName, company.domain);
    const history = [
      {
        current: true,
        organization_name: company.name,
        title: p.title,
        start_date: `${p.startYear}-03-01`,
        end_date: null,
      },
      ...p.previousClubs.map((club, i) => ({
        current: false,
        organization_name: club,
        title: i === 0 ? 'Assistant Golf Professional' : 'Golf Operations',
        start_date: `${p.startYear - 4 * (i + 1)}-04-01`,
        end_date: `${p.startYear - 4 * i}-02-01`,
      })),
    ].map((e, i) => ({
      _id: hexId(kit.seed, `emp:${p.id}:${i}`),
      id: hexId(kit.seed, `emp:${p.id}:${i}`),
      key: hexId(kit.seed, `k:${p.id}:${i}`),
      organization_id: null,
      ...e,
    }));
    return {
      id: hexId(kit.seed, `person:${p.id}`),
      first_name: p.firstName,
      last_name: p.lastName,
      name: p.fullName,
      linkedin_url: p.linkedinUrl ? p.linkedinUrl.replace('https://www.', 'http://www.') : null,
      title: p.title,
      email_status: hasEmail ? (verified ? 'verified' : 'extrapolated') : null,
      photo_url: null,
      twitter_url: null,
      github_url: null,
      facebook_url: null,
      extrapolated_email_confidence: hasEmail && !verified ? 0.62 : null,
      headline: `${p.title} at ${company.name}`,
      email: hasEmail ? email : null,
      organization_id: hexId(kit.seed, `org:${company.id}`),
      employment_history: history,
      state: 'Virginia',
      city: company.city,
      country: 'United States',
      organization: orgJson(company),
      departments: ['master_operations'],
      seniority: /Manager|Director|Owner|President/.test(p.title) ? 'director' : 'senior',
      is_likely_to_engage: false,
    };
  };

  const findPerson = (q: Record<string, unknown>): { company: Company; person: Person } | undefined => {
    const s = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
    const email = s('email')?.toLowerCase();
    if (email) {
      const person = world.byEmail.get(email);
      return person
        ? { person, company: world.companies.find((c) => c.id === person.companyId)! }
        : undefined;
    }
    const linkedin = s('linkedin_url')
      ?.toLowerCase()
      .replace(/^https?:\/\/(www\.)?/, '')
      .replace(/\/$/, '');
    if (linkedin) {
      const person = world.people.find(
        (p) => p.linkedinUrl?.toLowerCase().replace(/^https?:\/\/(www\.)?/, '') === linkedin,
      );
      return person
        ? { person, company: world.companies.find((c) => c.id === person.companyId)! }
        : undefined;
    }
    const domain = s('domain')
      ?.toLowerCase()
      .replace(/^www\./, '');
    const company = domain
      ? world.byDomain.get(domain)
      : world.companies.find((c) => c.name.toLowerCase() === s('organization_name')?.toLowerCase());
    let first = s('first_name');
    let last = s('last_name');
    const name = s('name');
    if ((!first || !last) && name) ({ firstName: first, lastName: last } = splitFullName(name));
    if (!company || !first || !last) return undefined;
    const same = (p: Person) =>
      slugify(p.firstName) === slugify(first) && slugify(p.lastName) === slugify(last);
    const person = company.people.find(same);
    if (person) return { company, person };
    // Apollo matches the person, not the job: someone who left the company (a month advance) is matched
    // at their new one, the old one first in their employment history.
    const moved = world.people.find((p) => same(p) && p.movedFrom === company.id);
    return moved
      ? { person: moved, company: world.companies.find((c) => c.id === moved.companyId)! }
      : undefined;
  };

  app.post('/people/match', async (c) => {
    const q = await params(c);
    const blocked = await guard(c, 'people/match', `match:${JSON.stringify(q)}`);
    if (blocked) return blocked;
    const hit = findPerson(q);
    if (!hit || !kit.knows(hit.person.id)) return c.json({ person: null });
    return c.json({ person: personJson(hit.company, hit.person) });
  });

  const orgEnrich = async (c: Context) => {
    const q = await params(c);
    const blocked = await guard(c, 'organizations/enrich', `org:${JSON.stringify(q)}`);
    if (blocked) return blocked;
    const domain = typeof q.domain === 'string' ? q.domain.toLowerCase().replace(/^www\./, '') : undefined;
    if (!domain) return c.json({ error: 'domain is required' }, 422);
    const company = world.byDomain.get(domain);
    if (!company || !kit.knows(`org:${company.id}`)) return c.json({});
    return c.json({ organization: orgJson(company) });
  };
  app.get('/organizations/enrich', orgEnrich);
  app.post('/organizations/enrich', orgEnrich);

  const search = (legacy: boolean) => async (c: Context) => {
    const q = await params(c);
    const blocked = await guard(
      c,
      legacy ? 'mixed_people/search' : 'mixed_people/api_search',
      `search:${JSON.stringify(q)}`,
    );
    if (blocked) return blocked;
    const domains = (Array.isArray(q.q_organization_domains_list) ? q.q_organization_domains_list : []).map(
      (d) => String(d).toLowerCase(),
    );
    const titles = (Array.isArray(q.person_titles) ? q.person_titles : []).map((t) =>
      String(t).toLowerCase(),
    );
    const perPage = Math.min(100, Number(q.per_page ?? 25));
    const page = Math.max(1, Number(q.page ?? 1));
    const people = domains
      .flatMap((d) => {
        const company = world.byDomain.get(d);
        return company ? company.people.map((p) => ({ company, p })) : [];
      })
      .filter(({ p }) => kit.knows(p.id))
      .filter(({ p }) => titles.length === 0 || titles.some((t) => p.title.toLowerCase().includes(t)));
    const slice = people.slice((page - 1) * perPage, page * perPage);
    const rows = slice.map(({ company, p }) => ({
      id: hexId(kit.seed, `person:${p.id}`),
      first_name: p.firstName,
      last_name_obfuscated: `${p.lastName.slice(0, 2)}***${p.lastName.slice(-1)}`,
      title: p.title,
      last_refreshed_at: '2025-01-05T00:00:00.000+00:00',
      has_email: true,
      has_city: true,
      has_state: true,
      has_country: true,
      has_direct_phone: p.phone ? 'Yes' : 'Maybe: please request direct dial via people/bulk_match',
      organization: {
        name: company.name,
        has_industry: true,
        has_phone: true,
        has_employee_count: true,
        has_revenue: false,
      },
    }));
    if (legacy) {
      return c.json({
        pagination: {
          page,
          per_page: perPage,
          total_entries: people.length,
          total_pages: Math.ceil(people.length / perPage),
        },
        people: rows.map((r, i) => ({ ...r, last_name: slice[i]!.p.lastName })),
        contacts: [],
      });
    }
    return c.json({ total_entries: people.length, people: rows });
  };
  app.post('/mixed_people/api_search', search(false));
  app.post('/mixed_people/search', search(true));

  app.notFound((c) => c.json({ error: 'Not found' }, 404));
  return { app, control: kit.control, stats: kit.stats, apiKey: kit.apiKey };
}
