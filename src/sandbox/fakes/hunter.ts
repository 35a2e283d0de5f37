import { type Context, Hono } from 'hono';
import { splitFullName } from '../../normalize/person-name.ts';
import { unit } from '../rng.ts';
import { applyPattern, type Company, EMAIL_PATTERNS, type Person, slugify, type World } from '../world.ts';
import { FakeKit, type FakeOptions, type FakeServer, malformed } from './fake-kit.ts';

/**
 * Fake Hunter.io v2 (docs/provider-apis.md §1): same paths, auth (api_key query, X-API-KEY, Bearer),
 * envelopes, 403 on rate limit (15/s + 500/min; verifier 10/s + 300/min), 429 when the monthly credits
 * are used up, 202 "still verifying" on the verifier. Answers from the sandbox world, imperfectly
 * (docs/sandbox.md): the finder extrapolates the domain's pattern for people whose address is not
 * published, so it is wrong for nicknames, legacy addresses and collisions; wrong answers look like
 * right ones (same scores, same `verification`: `valid` for some answers right or wrong alike,
 * unverified for the rest); the verifier answers `accept_all` for accept-all domains and `unknown`
 * where the mail server does not answer.
 */
export const HUNTER_RATES = {
  /** Finder answers whose `verification.status` is `valid` (right or wrong alike). */
  finderVerified: 0.55,
} as const;

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
  /**
   * A published address is found as it is; otherwise Hunter extrapolates the domain's pattern (wrong
   * for nicknames, legacy addresses, collisions), and a share of answers is plainly stale.
   */
  const finderEmail = (company: Company, person: Person): string => {
    if (kit.wrong(person.id)) {
      const other =
        EMAIL_PATTERNS[(EMAIL_PATTERNS.indexOf(company.emailPattern) + 1) % EMAIL_PATTERNS.length]!;
      return applyPattern(other, person.firstName, person.lastName, company.domain);
    }
    if (person.emailOnSite || person.emailKind === 'pattern') return person.email;
    return applyPattern(company.emailPattern, person.firstName, person.lastName, company.domain);
  };
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
    if ((!first || !last) && q.full_name) ({ firstName: first, lastName: last } = splitFullName(q.full_name));
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
    const email = finderEmail(company, person);
    const r = unit(kit.seed, `hunter:extra:${person.id}`);
    const acceptAll = company.mailServer === 'accept-all';
    const status = acceptAll
      ? 'accept_all'
      : unit(kit.seed, `hunter:verified:${person.id}`) < HUNTER_RATES.finderVerified
        ? 'valid'
        : null;
    return c.json({
      data: {
        first_name: person.firstName,
        last_name: person.lastName,
        email,
        score: 70 + Math.floor(r * 29),
        domain: company.domain,
        accept_all: acceptAll,
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
        verification: { date: status ? '2025-01-10' : null, status },
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
        accept_all: company?.mailServer === 'accept-all',
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
          verification:
            company?.mailServer === 'accept-all'
              ? { date: '2025-01-10', status: 'accept_all' }
              : unit(kit.seed, `hunter:verified:${p.id}`) < HUNTER_RATES.finderVerified
                ? { date: '2025-01-10', status: 'valid' }
                : { date: null, status: null },
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
    const exists = Boolean(person || generic);
    const server = company?.mailServer ?? 'unresponsive';
    const status =
      server === 'accept-all'
        ? 'accept_all'
        : server === 'unresponsive'
          ? 'unknown'
          : exists
            ? 'valid'
            : 'invalid';
    const score =
      status === 'valid'
        ? 90 + Math.floor(unit(kit.seed, `hunter:vs:${email}`) * 10)
        : status === 'accept_all'
          ? 60 + Math.floor(unit(kit.seed, `hunter:vs:${email}`) * 20)
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
        smtp_server: Boolean(company) && server !== 'unresponsive',
        smtp_check: status === 'valid' || status === 'accept_all',
        accept_all: status === 'accept_all',
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
