import { type Context, Hono } from 'hono';
import { unit } from '../rng.ts';
import { applyPattern, EMAIL_PATTERNS, slugify, type World } from '../world.ts';
import { FakeKit, type FakeOptions, type FakeServer, malformed } from './fake-kit.ts';

/**
 * Fake Hunter.io v2 (docs/provider-apis.md §1): same paths, auth (api_key query, X-API-KEY, Bearer),
 * envelopes, 403 on rate limit (15/s + 500/min; verifier 10/s + 300/min), 429 when the monthly credits
 * are used up, 202 "still verifying" on the verifier. Answers from the sandbox world.
 */
export interface HunterFakeOptions extends FakeOptions {
  /** Monthly credits before 429. Default 1 000 000. */
  credits?: number;
}

const err = (c: Context, status: number, id: string, details: string) =>
  c.json({ errors: [{ id, code: status, details }] }, status as 400);

export function createHunterFake(world: World, options: HunterFakeOptions = {}): FakeServer {
  const kit = new FakeKit('hunter', options, { latencyMs: 90, coverage: 0.7, wrongRate: 0.04 }, world.seed);
  let creditsLeft = options.credits ?? 1_000_000;
  const polled = new Set<string>();
  const app = new Hono();

  const guard = async (
    c: Context,
    group: 'search' | 'verify',
    key: string,
  ): Promise<Response | undefined> => {
    await kit.enter(c);
    const auth = c.req.header('authorization')?.replace(/^Bearer\s+/i, '');
    const apiKey = c.req.query('api_key') ?? c.req.header('x-api-key') ?? auth;
    if (apiKey !== kit.apiKey)
      return err(c, 401, 'authentication_failed', 'No user found for the API key supplied');
    const mode = kit.control.mode;
    const [perSec, perMin] = group === 'search' ? [15, 500] : [10, 300];
    const sec = kit.take(`${group}:s`, perSec, 1000);
    const min = kit.take(`${group}:m`, perMin, 60_000);
    if (mode === 'throttle' || !sec.allowed || !min.allowed) {
      return err(
        c,
        403,
        'too_many_requests',
        `You have reached the rate limit of ${perSec} requests per second / ${perMin} per minute.`,
      );
    }
    if (mode === 'quota' || creditsLeft <= 0) {
      return err(
        c,
        429,
        'too_many_requests',
        "You've reached the limit of your plan's monthly usage. Upgrade or wait for the next month.",
      );
    }
    if (mode === 'malformed') return malformed(c);
    await kit.delay(key);
    if (mode === 'server-error' || kit.fault(key))
      return err(c, 503, 'service_unavailable', 'Service temporarily unavailable');
    return undefined;
  };

  app.get('/email-finder', async (c) => {
    const q = c.req.query();
    const blocked = await guard(c, 'search', `finder:${JSON.stringify(q)}`);
    if (blocked) return blocked;
    const domain = q.domain?.toLowerCase().replace(/^www\./, '');
    const company = domain
      ? world.byDomain.get(domain)
      : world.companies.find((x) => x.name.toLowerCase() === q.company?.toLowerCase());
    if (!domain && !q.company)
      return err(c, 400, 'wrong_params', 'You are missing the domain or company parameter');
    let first = q.first_name;
    let last = q.last_name;
    if ((!first || !last) && q.full_name)
      [first, last] = [q.full_name.split(' ')[0], q.full_name.split(' ').slice(1).join(' ')];
    if (!first || !last)
      return err(
        c,
        400,
        'wrong_params',
        'You are missing the first_name and last_name (or full_name) parameters',
      );
    const person = company?.people.find(
      (p) => slugify(p.firstName) === slugify(first) && slugify(p.lastName) === slugify(last),
    );
    const params = {
      first_name: q.first_name ?? null,
      last_name: q.last_name ?? null,
      full_name: q.full_name ?? null,
      domain: domain ?? null,
      company: q.company ?? null,
      max_duration: null,
    };
    if (!company || !person || !kit.knows(person.id)) {
      return c.json({
        data: {
          first_name: first,
          last_name: last,
          email: null,
          score: null,
          domain: domain ?? null,
          accept_all: null,
          position: null,
          twitter: null,
          linkedin_url: null,
          phone_number: null,
          company: company?.name ?? null,
          sources: [],
          verification: { date: null, status: null },
        },
        meta: { params },
      });
    }
    creditsLeft -= 1;
    const wrong = kit.wrong(person.id);
    const otherPattern =
      EMAIL_PATTERNS[(EMAIL_PATTERNS.indexOf(company.emailPattern) + 1) % EMAIL_PATTERNS.length]!;
    const email = wrong
      ? applyPattern(otherPattern, person.firstName, person.lastName, company.domain)
      : person.email;
    const r = unit(kit.seed, `hunter:extra:${person.id}`);
    return c.json({
      data: {
        first_name: person.firstName,
        last_name: person.lastName,
        email,
        score: wrong ? 55 + Math.floor(r * 20) : 80 + Math.floor(r * 19),
        domain: company.domain,
        accept_all: false,
        position: person.title,
        twitter: null,
        linkedin_url: r < 0.5 ? person.linkedinUrl : null,
        phone_number: r < 0.25 ? person.phone : null,
        company: company.name,
        sources: [
          {
            domain: company.domain,
            uri: `${company.website ?? `https://www.${company.domain}/`}staff`,
            extracted_on: '2024-03-02',
            last_seen_on: '2025-01-10',
            still_on_page: true,
          },
        ],
        verification: { date: '2025-01-10', status: wrong ? 'accept_all' : 'valid' },
      },
      meta: { params },
    });
  });

  app.get('/domain-search', async (c) => {
    const q = c.req.query();
    const blocked = await guard(c, 'search', `search:${JSON.stringify(q)}`);
    if (blocked) return blocked;
    const domain = q.domain?.toLowerCase().replace(/^www\./, '');
    if (!domain && !q.company)
      return err(c, 400, 'wrong_params', 'You are missing the domain or company parameter');
    const limit = Math.min(100, Number(q.limit ?? 10));
    const offset = Number(q.offset ?? 0);
    if (!Number.isFinite(limit) || limit < 1 || !Number.isFinite(offset) || offset < 0) {
      return err(c, 400, 'pagination_error', 'limit and offset must be positive numbers');
    }
    const company = domain ? world.byDomain.get(domain) : world.companies.find((x) => x.name === q.company);
    const known =
      company && kit.knows(`domain:${company.domain}`) ? company.people.filter((p) => kit.knows(p.id)) : [];
    const page = known.slice(offset, offset + limit);
    creditsLeft -= Math.ceil(page.length / 10);
    return c.json({
      data: {
        domain: company?.domain ?? domain ?? null,
        disposable: false,
        webmail: false,
        accept_all: false,
        pattern: company && known.length > 0 ? company.emailPattern : null,
        organization: company?.name ?? null,
        linked_domains: [],
        emails: page.map((p) => ({
          value: p.email,
          type: 'personal',
          confidence: 80 + Math.floor(unit(kit.seed, `hunter:conf:${p.id}`) * 19),
          sources: [],
          first_name: p.firstName,
          last_name: p.lastName,
          position: p.title,
          position_raw: p.title,
          seniority: /Manager|Director|Owner/.test(p.title) ? 'executive' : 'senior',
          department: 'management',
          linkedin: p.linkedinUrl,
          twitter: null,
          phone_number: null,
          verification: { date: '2025-01-10', status: 'valid' },
        })),
      },
      meta: {
        results: known.length,
        limit,
        offset,
        params: {
          domain: domain ?? null,
          company: q.company ?? null,
          type: q.type ?? null,
          seniority: null,
          department: null,
        },
      },
    });
  });

  app.get('/email-verifier', async (c) => {
    const email = c.req.query('email')?.toLowerCase();
    const blocked = await guard(c, 'verify', `verify:${email}`);
    if (blocked) return blocked;
    if (!email || !/^[^@\s]+@[^@\s]+\.[a-z]{2,}$/.test(email))
      return err(c, 400, 'invalid_email', 'The email is invalid');
    // A few verifications take longer than one request: 202 on the first poll, billed once.
    if (unit(kit.seed, `hunter:202:${email}`) < 0.03 && !polled.has(email)) {
      polled.add(email);
      return c.json({ data: { status: 'unknown', email }, meta: { params: { email } } }, 202);
    }
    creditsLeft -= 0.5;
    const domain = email.split('@')[1]!;
    const company = world.byDomain.get(domain);
    const person = world.byEmail.get(email);
    const generic = company && email === `info@${domain}`;
    const status = person || generic ? 'valid' : company ? 'invalid' : 'unknown';
    const score =
      status === 'valid'
        ? 90 + Math.floor(unit(kit.seed, `hunter:vs:${email}`) * 10)
        : status === 'invalid'
          ? 12
          : 40;
    return c.json({
      data: {
        status,
        result: status === 'valid' ? 'deliverable' : status === 'invalid' ? 'undeliverable' : 'risky',
        score,
        email,
        regexp: true,
        gibberish: false,
        disposable: false,
        webmail: false,
        mx_records: Boolean(company),
        smtp_server: Boolean(company),
        smtp_check: status === 'valid',
        accept_all: false,
        block: false,
        sources: [],
      },
      meta: { params: { email } },
    });
  });

  app.get('/account', async (c) => {
    const blocked = await guard(c, 'search', 'account');
    if (blocked) return blocked;
    const total = options.credits ?? 1_000_000;
    return c.json({
      data: {
        first_name: 'Sandbox',
        last_name: 'User',
        email: 'sandbox@example.com',
        plan_name: 'Sandbox',
        plan_level: 1,
        reset_date: '2025-02-01',
        team_id: 1,
        requests: { credits: { used: total - creditsLeft, available: total } },
      },
    });
  });

  app.notFound((c) => err(c, 404, 'not_found', 'This route does not exist'));
  return { app, control: kit.control, stats: kit.stats, apiKey: kit.apiKey };
}
