import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CriticalError,
  QuotaExhaustedError,
  RetryableError,
  type SluiceError,
  ThrottledError,
} from '../../src/errors.ts';
import type { ProviderDefinition } from '../../src/providers/define-provider.ts';
import { createOperationContext } from '../../src/providers/http.ts';
import { getOperation } from '../../src/providers/registry.ts';
import { createApolloFake } from '../../src/sandbox/fakes/apollo.ts';
import type { FaultMode } from '../../src/sandbox/fakes/fake-kit.ts';
import { createHunterFake } from '../../src/sandbox/fakes/hunter.ts';
import { PERFECT_READER } from '../../src/sandbox/reader/reader-rates.ts';
import { unit } from '../../src/sandbox/rng.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/start-sandbox.ts';
import type { Company, Person } from '../../src/sandbox/world.ts';

/**
 * Every HTTP adapter against its fake (real HTTP on local ports): success, not found, throttle (class and
 * retry-after), quota exhausted, auth error, malformed body, timeout, server error. The fakes follow
 * docs/provider-apis.md, so this is the adapters' contract with the real APIs.
 */
let sb: Sandbox;
let course: Company;
let person: Person;

beforeAll(async () => {
  sb = await startSandbox({
    seed: 3,
    fakes: { latencyScale: 0, faultRate: 0, coverage: 1, wrongRate: 0 },
    readerRates: PERFECT_READER,
  });
  // A course whose mail server answers verification and whose first person follows the pattern:
  // the conformance checks are about the adapters, not the world's imperfections (test/sandbox.test.ts).
  course = sb.world.courses.find(
    (c) =>
      c.website &&
      c.staffPath &&
      c.staffPath !== '/contact' &&
      c.people.length >= 2 &&
      c.mailServer === 'normal' &&
      c.people[0]!.emailKind === 'pattern',
  )!;
  person = course.people[0]!;
});
afterAll(() => sb.stop());
afterEach(() => {
  for (const f of Object.values(sb.fakes)) f.control.mode = undefined;
});

async function call(
  providerId: string,
  op: string,
  input: unknown,
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
) {
  const { provider, operation } = getOperation(providerId, op);
  const ctx = createOperationContext(provider as ProviderDefinition, {
    env: { ...sb.env, ...opts.env },
    timeoutMs: opts.timeoutMs ?? 5_000,
  });
  return operation.run(ctx, operation.input.parse(input));
}

async function failure(p: Promise<unknown>): Promise<SluiceError> {
  try {
    await p;
  } catch (err) {
    return err as SluiceError;
  }
  throw new Error('expected the call to fail');
}

interface Case {
  provider: string;
  op: string;
  fake: string;
  input: () => unknown;
  check: (output: Record<string, unknown>) => void;
  notFound?: () => unknown;
  /** Env var holding the key (auth test), when the provider checks one. */
  keyVar?: string;
  /** Retry-after the throttle should carry, when the API gives one. */
  retryAfter?: (ms: number | undefined) => void;
  quota?: boolean;
}

const cases: Case[] = [
  {
    provider: 'hunter',
    op: 'email-finder',
    fake: 'hunter',
    input: () => ({ domain: course.domain, first_name: person.firstName, last_name: person.lastName }),
    check: (o) => expect(o.email).toBe(person.email),
    notFound: () => ({ domain: course.domain, first_name: 'Nobody', last_name: 'Here' }),
    keyVar: 'HUNTER_API_KEY',
    quota: true,
  },
  {
    provider: 'hunter',
    op: 'domain-search',
    fake: 'hunter',
    input: () => ({ domain: `https://www.${course.domain}/` }),
    check: (o) => {
      expect(o.pattern).toBe(course.emailPattern);
      expect((o.emails as { email: string }[]).map((e) => e.email).sort()).toEqual(
        course.people.map((p) => p.email).sort(),
      );
    },
    notFound: () => ({ domain: 'no-such-course-anywhere.com' }),
    keyVar: 'HUNTER_API_KEY',
    quota: true,
  },
  {
    provider: 'hunter',
    op: 'email-verifier',
    fake: 'hunter',
    input: () => ({ email: person.email.toUpperCase() }),
    check: (o) => expect(o).toMatchObject({ email: person.email, status: 'valid' }),
    keyVar: 'HUNTER_API_KEY',
    quota: true,
  },
  {
    provider: 'apollo',
    op: 'people-match',
    fake: 'apollo',
    input: () => ({ domain: course.domain, first_name: person.firstName, last_name: person.lastName }),
    check: (o) => {
      expect(o.linkedin_url ?? null).toBe(person.linkedinUrl);
      expect((o.employment_history as { organization_name: string; current: boolean }[])[0]).toMatchObject({
        organization_name: course.name,
        current: true,
      });
    },
    notFound: () => ({ domain: course.domain, first_name: 'Nobody', last_name: 'Here' }),
    keyVar: 'APOLLO_API_KEY',
    retryAfter: (ms) => expect(ms).toBeGreaterThan(0),
    quota: true,
  },
  {
    provider: 'apollo',
    op: 'organizations-enrich',
    fake: 'apollo',
    input: () => ({ domain: course.domain }),
    check: (o) => expect(o).toMatchObject({ name: course.name, domain: course.domain, phone: course.phone }),
    notFound: () => ({ domain: 'no-such-course-anywhere.com' }),
    keyVar: 'APOLLO_API_KEY',
    quota: true,
  },
  {
    provider: 'apollo',
    op: 'people-search',
    fake: 'apollo',
    input: () => ({ domain: course.domain }),
    check: (o) => expect(o.total).toBe(course.people.length),
    notFound: () => ({ domain: 'no-such-course-anywhere.com' }),
    keyVar: 'APOLLO_API_KEY',
    quota: true,
  },
  {
    provider: 'perplexity',
    op: 'chat',
    fake: 'perplexity',
    input: () => ({
      prompt: `How many holes does ${course.name} (${course.domain}) have?`,
      json_schema: {
        type: 'object',
        properties: { holes: { type: ['integer', 'null'] } },
      },
    }),
    check: (o) => {
      // Read from the search results (the course's pages and listings), which it cites.
      expect(o.json).toEqual({ holes: course.course!.holes });
      expect((o.citations as string[]).length).toBeGreaterThan(0);
      for (const url of o.citations as string[]) expect(url).toMatch(/^https:\/\//);
    },
    keyVar: 'PERPLEXITY_API_KEY',
    retryAfter: (ms) => expect(ms).toBe(3000),
    quota: true,
  },
  {
    provider: 'jina',
    op: 'read',
    fake: 'jina',
    input: () => ({ url: `${course.website}${course.staffPath!.slice(1)}` }),
    check: (o) => {
      expect(o.title).toContain(course.name);
      for (const p of course.people.filter((x) => x.onStaffPage)) expect(o.content).toContain(p.fullName);
    },
    notFound: () => ({ url: 'https://no-such-course-anywhere.com/' }),
    keyVar: 'JINA_API_KEY',
    retryAfter: (ms) => expect(ms).toBe(7000),
    quota: true,
  },
  {
    provider: 'website',
    op: 'fetch-page',
    fake: 'website',
    input: () => ({ url: `${course.website}contact` }),
    check: (o) => {
      expect(o.phones).toContain(course.phone);
      expect(o.emails).toContain(`info@${course.domain}`);
    },
    notFound: () => ({ url: 'https://no-such-course-anywhere.com/' }),
    retryAfter: (ms) => expect(ms).toBe(2000),
  },
  ...(
    [
      ['perplexity', 'perplexity:sonar', 'PERPLEXITY_API_KEY', true],
      ['anthropic', 'anthropic:claude-haiku-4-5', 'ANTHROPIC_API_KEY', true],
      ['anthropic', 'anthropic:claude-3-haiku-20240307', 'ANTHROPIC_API_KEY', true],
      ['openai', 'openai:gpt-4o-mini', 'OPENAI_API_KEY', true],
    ] as const
  ).map(
    ([fake, model, keyVar, quota]): Case => ({
      provider: 'llm',
      op: 'generate',
      fake,
      // The model reads the page it is given, even when the page lies about a real course.
      input: () => ({
        model,
        prompt: `Course: ${course.name} (${course.domain}).\nWebsite text:\nWelcome to ${course.name}, a 9-hole, par 27 municipal golf facility. Green fees from $5.`,
        schema: {
          type: 'object',
          properties: {
            holes: { type: ['integer', 'null'] },
            par: { type: ['integer', 'null'] },
            green_fee_usd: { type: ['number', 'null'] },
            access: { type: 'string', enum: ['private', 'semi-private', 'public', 'municipal', 'resort'] },
          },
          required: ['holes', 'par', 'green_fee_usd', 'access'],
        },
      }),
      check: (o) => expect(o.object).toEqual({ holes: 9, par: 27, green_fee_usd: 5, access: 'municipal' }),
      keyVar,
      retryAfter: (ms) => expect(ms).toBe(3000),
      quota,
    }),
  ),
];

describe.each(cases)('$provider $op against its fake', (c) => {
  it('success: returns the normalized answer from the world, and costs what the provider charges', async () => {
    const r = await call(c.provider, c.op, c.input());
    expect(r.found).toBe(true);
    if (r.found) c.check(r.output as Record<string, unknown>);
    expect(r.costUsd).toBeGreaterThanOrEqual(0);
  });

  it.runIf(c.notFound)('not found: found=false and nothing charged', async () => {
    const r = await call(c.provider, c.op, c.notFound!()).catch((err: Error) => err);
    if (r instanceof Error) expect(r.name).toBe('NotFoundError');
    else expect(r).toEqual({ found: false, costUsd: 0 });
  });

  it("throttle: the provider's throttle signal becomes ThrottledError", async () => {
    sb.fakes[c.fake]!.control.mode = 'throttle';
    const err = await failure(call(c.provider, c.op, c.input()));
    expect(err).toBeInstanceOf(ThrottledError);
    c.retryAfter?.((err as ThrottledError).retryAfterMs);
  });

  it.runIf(c.quota)('quota exhausted: QuotaExhaustedError (not retried)', async () => {
    sb.fakes[c.fake]!.control.mode = 'quota';
    expect(await failure(call(c.provider, c.op, c.input()))).toBeInstanceOf(QuotaExhaustedError);
  });

  it.runIf(c.keyVar)('auth error: CriticalError naming the key variable', async () => {
    const err = await failure(call(c.provider, c.op, c.input(), { env: { [c.keyVar!]: 'wrong-key' } }));
    expect(err).toBeInstanceOf(CriticalError);
    expect(err.message).toContain(c.keyVar);
    expect(err.message).not.toContain('wrong-key');
  });

  // A garbled 2xx is retried like a 5xx; for the website fetcher the fake's JSON content type is an
  // answer ("not a web page"), which retrying cannot change.
  it.each<[FaultMode, typeof RetryableError | typeof CriticalError]>([
    ['malformed', c.provider === 'website' ? CriticalError : RetryableError],
    ['server-error', RetryableError],
  ])('%s: fails this call with the right class', async (mode, cls) => {
    sb.fakes[c.fake]!.control.mode = mode;
    expect(await failure(call(c.provider, c.op, c.input()))).toBeInstanceOf(cls);
  });

  it('timeout: a hanging response becomes RetryableError after the timeout', async () => {
    sb.fakes[c.fake]!.control.mode = 'slow';
    sb.fakes[c.fake]!.control.slowMs = 1_500;
    const started = Date.now();
    const err = await failure(call(c.provider, c.op, c.input(), { timeoutMs: 150 }));
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.message).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(1_400);
  });
});

describe('fakes enforce the documented limits', () => {
  it('hunter answers 403 past 10 verifications per second, which the adapter maps to ThrottledError', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 14 }, (_, i) =>
        call('hunter', 'email-verifier', { email: `probe${i}@${course.domain}` }),
      ),
    );
    const throttled = results.filter((r) => r.status === 'rejected' && r.reason instanceof ThrottledError);
    expect(throttled.length).toBeGreaterThanOrEqual(1);
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeLessThanOrEqual(10);
  });

  it('apollo reports its windows in x-rate-limit headers and 429s when the minute is spent', async () => {
    {
      const fake = createApolloFake(sb.world, { perMinute: 2, latencyScale: 0, faultRate: 0 });
      const hdr = { 'x-api-key': fake.apiKey, 'content-type': 'application/json' };
      const req = () => fake.app.request('/organizations/enrich?domain=x.com', { headers: hdr });
      const first = await req();
      expect(first.headers.get('x-rate-limit-minute')).toBe('2');
      expect(first.headers.get('x-minute-requests-left')).toBe('1');
      await req();
      const third = await req();
      expect(third.status).toBe(429);
      expect(((await third.json()) as { message: string }).message).toMatch(/is 2 times per minute/);
    }
  });
});

describe('hunter email-verifier 202 (still verifying)', () => {
  it('polls again and returns the final answer', async () => {
    const world = sb.world;
    const fake = createHunterFake(world, { latencyScale: 0, faultRate: 0 });
    // An address the fake answers 202 for on the first poll (3% of addresses, seeded).
    const email = Array.from({ length: 500 }, (_, i) => `someone${i}@${course.domain}`).find(
      (e) => unit(world.seed, `hunter:202:${e}`) < 0.03,
    )!;
    const { provider, operation } = getOperation('hunter', 'email-verifier');
    const ctx = createOperationContext(provider, {
      env: { HUNTER_API_KEY: fake.apiKey, SLUICE_HUNTER_BASE_URL: 'http://hunter.fake' },
      fetch: (url, init) => Promise.resolve(fake.app.request(String(url), init)),
    });
    const r = await operation.run(ctx, { email });
    expect(fake.stats.byPath['/email-verifier']).toBe(2);
    expect(r).toMatchObject({ found: true, output: { email, status: 'invalid' } });
  });
});
