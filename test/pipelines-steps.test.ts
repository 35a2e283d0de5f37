import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordView, StepOutput } from '../src/engine/pipeline-types.ts';
import { CriticalError, ThrottledError } from '../src/errors.ts';
import { evaluate, parseExpression } from '../src/pipelines/expression.ts';
import { httpProvider } from '../src/pipelines/http-provider.ts';
import { parsePipeline } from '../src/pipelines/load.ts';
import { createOperationContext } from '../src/providers/http.ts';
import { contact, stepContext, TestGateway } from './pipelines-test-gateway.ts';

const compile = (yaml: string) => parsePipeline(yaml, 't.yaml', { checkProviders: false }).definition;

const course = (): RecordView => ({
  account: { id: 1, name: 'Pine Hollow Golf Club', website: 'https://www.PineHollow.com/about', state: 'VA' },
  contacts: [
    contact(1, { first_name: 'Ann', last_name: 'Lee', title: 'General Manager' }),
    contact(2, { first_name: 'Bo', last_name: 'Diaz', title: 'Head Golf Professional' }),
    contact(3, { first_name: 'Cy', last_name: 'Moe', title: 'Superintendent' }),
  ],
});

describe('expressions', () => {
  const ev = (src: string, scope: Record<string, unknown> = {}) =>
    evaluate(parseExpression(src, ['account', 'contact']), scope);

  it('evaluates operators, functions and missing fields without throwing', () => {
    const account = { name: 'Pine', score: 7, tags: ['a', 'b'] };
    expect(ev('account.score * 2 + 1', { account })).toBe(15);
    expect(ev("account.score >= 7 and 'a' in account.tags", { account })).toBe(true);
    expect(ev('account.missing.deeper == null', { account })).toBe(true);
    expect(ev('account.missing > 3', { account })).toBe(false);
    expect(ev("coalesce(account.missing, lower(account.name) + '!')", { account })).toBe('pine!');
    expect(ev("domain_of('ann.lee@mail.pinehollow.co.uk')")).toBe('pinehollow.co.uk');
    expect(ev("account.score > 5 ? 'high' : 'low'", { account })).toBe('high');
  });

  it('cannot reach prototypes or unknown functions', () => {
    expect(ev('account.constructor', { account: {} })).toBe(null);
    expect(ev("account['__proto__']", { account: {} })).toBe(null);
    expect(() => parseExpression('constructor("x")', ['account'])).toThrow(/unknown function/);
    expect(() => parseExpression('process.env', ['account'])).toThrow(/unknown name "process"/);
  });
});

describe('formula and when', () => {
  it('derives fields from other fields, each seeing the previous ones', async () => {
    const def = compile(`
name: t
steps:
  - id: derive
    kind: formula
    fields:
      domain: domain_of(account.website)
      email_hint: "'@' + account.domain"
      nothing: account.missing
`);
    const out = await def.steps[0]!.run(stepContext(new TestGateway({}), course()));
    expect(out.writes.map((w) => [w.entity, w.field, w.value, w.source, w.costUsd])).toEqual([
      ['account', 'domain', 'pinehollow.com', 'step', 0],
      ['account', 'email_hint', '@pinehollow.com', 'step', 0],
    ]);
  });

  it('skips a step whose when is false, without any call', async () => {
    const def = compile(`
name: t
steps:
  - id: find
    kind: waterfall
    when: is_empty(account.website)
    fields: [website]
    providers:
      - { provider: s, operation: search, input: { q: "{{account.name}}" }, output: { website: url } }
`);
    const gateway = new TestGateway({
      's/search': () => ({ found: true, output: { url: 'https://x.com' } }),
    });
    const out = await def.steps[0]!.run(stepContext(gateway, course()));
    expect(out.status).toBe('skipped');
    expect(gateway.calls).toHaveLength(0);
    const empty = course();
    delete empty.account.website;
    const ran = await def.steps[0]!.run(stepContext(gateway, empty));
    expect(ran.writes[0]).toMatchObject({ field: 'website', value: 'https://x.com', provider: 's' });
  });
});

describe('templates', () => {
  it("an empty {{ }} is a missing input, unless it ends in a literal fallback like coalesce(x, '')", async () => {
    const def = compile(`
name: t
steps:
  - id: find
    kind: waterfall
    fields: [website]
    providers:
      - { provider: s, operation: search, input: { q: "{{account.name}} in {{account.city}}" }, output: { website: url } }
      - { provider: s, operation: search, input: { q: "{{account.name}} in {{coalesce(account.city, '')}} {{account.state}}" }, output: { website: url } }
`);
    const gateway = new TestGateway({
      's/search': () => ({ found: true, output: { url: 'https://x.com' } }),
    });
    const empty = course();
    delete empty.account.website;
    const out = await def.steps[0]!.run(stepContext(gateway, empty));
    expect(gateway.calls.map((c) => c.input)).toEqual([{ q: 'Pine Hollow Golf Club in  VA' }]);
    expect((out.data as { attempts: { result: string }[] }).attempts.map((a) => a.result)).toEqual([
      'skipped_missing_input',
      'hit',
    ]);
  });
});

describe('foreach', () => {
  const yaml = `
name: t
steps:
  - id: people
    kind: foreach
    concurrency: 2
    where: contact.title != 'Superintendent'
    steps:
      - id: phone
        kind: waterfall
        fields: [phone]
        providers:
          - { provider: p, operation: lookup, input: { name: "{{contact.first_name}}" }, output: { phone: phone } }
      - id: has_phone
        kind: formula
        when: present(contact.phone)
        fields: { phone_known: "true" }
`;

  it('runs child steps per contact, bounded and in order within a contact, memoized per contact', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const gateway = new TestGateway({
      'p/lookup': async (i) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 20));
        inFlight--;
        return i.name === 'Bo'
          ? { found: false }
          : { found: true, output: { phone: '+18045550100' }, costUsd: 0.1 };
      },
    });
    const memo = new Map<string, StepOutput>();
    const def = compile(yaml);
    const out = await def.steps[0]!.run(stepContext(gateway, course(), memo));
    // Cy is filtered out by `where`; Ann and Bo run concurrently (limit 2)
    expect(gateway.calls.map((c) => (c.input as { name: string }).name).sort()).toEqual(['Ann', 'Bo']);
    expect(maxInFlight).toBe(2);
    expect(out.writes.map((w) => [w.contactRef, w.field, w.value])).toEqual([
      ['id:1', 'phone', '+18045550100'],
      ['id:1', 'phone_known', true],
    ]);
    expect([...memo.keys()].sort()).toEqual([
      'people.has_phone/id:1',
      'people.has_phone/id:2',
      'people.phone/id:1',
      'people.phone/id:2',
    ]);
    // A retried run reuses the memoized children: no second paid lookup.
    const again = await def.steps[0]!.run(stepContext(gateway, course(), memo));
    expect(gateway.calls).toHaveLength(2);
    expect(again.writes).toEqual(out.writes);
  });

  it("keeps the other contacts' results when one contact's lookup fails for good", async () => {
    const gateway = new TestGateway({
      'p/lookup': (i) => {
        if (i.name === 'Ann') throw new CriticalError('garbage body');
        return { found: true, output: { phone: '+18045550101' } };
      },
    });
    const out = await compile(yaml).steps[0]!.run(stepContext(gateway, course()));
    expect(out.writes.map((w) => [w.contactRef, w.field])).toEqual([
      ['id:2', 'phone'],
      ['id:2', 'phone_known'],
    ]);
    // the failed contact is visible with its reason (never "not found"), the step is failed
    expect(out.status).toBe('failed');
    expect(out.data).toMatchObject({
      contacts: { 'id:1': { phone: { status: 'failed' } } },
      errors: [{ contact: 'id:1', errorClass: 'critical', message: 'garbage body' }],
    });
  });

  it('finishes (and memoizes) the other contacts before raising a throttle, so a retry pays only for the rest', async () => {
    const gateway = new TestGateway({
      'p/lookup': (i) => {
        if (i.name === 'Ann') throw new ThrottledError('slow down', { retryAfterMs: 1000 });
        return { found: true, output: { phone: '+18045550101' } };
      },
    });
    const memo = new Map<string, StepOutput>();
    await expect(compile(yaml).steps[0]!.run(stepContext(gateway, course(), memo))).rejects.toThrow(
      'slow down',
    );
    expect(memo.has('people.phone/id:2')).toBe(true);
    expect(memo.has('people.phone/id:1')).toBe(false);
  });
});

describe('ai step', () => {
  const yaml = `
name: t
steps:
  - id: extract
    kind: ai
    model: anthropic:claude-haiku-4-5
    context:
      page: { provider: web, operation: read, input: { url: "{{account.website}}" }, path: text }
    prompt: "Staff of {{account.name}}: {{context.page}}"
    schema:
      type: object
      properties:
        holes: { type: integer, minimum: 9 }
        staff: { type: array, items: { type: object, properties: { name: { type: string }, title: { type: string } }, required: [name] } }
      required: [holes, staff]
    output: { holes: holes }
    contacts:
      from: staff
      fields: { full_name: name, title: title }
`;

  it('prompts with fetched context, writes mapped fields and finds new contacts (deduped)', async () => {
    const gateway = new TestGateway({
      'web/read': () => ({ found: true, output: { text: 'Ann Lee, GM. Dee Fox, Pro.' }, costUsd: 0 }),
      'llm/generate': () => ({
        found: true,
        output: {
          object: {
            holes: 18,
            staff: [
              { name: 'Ann Lee', title: 'General Manager' },
              { name: 'Dee Fox', title: 'Head Pro' },
            ],
          },
        },
        costUsd: 0.003,
      }),
    });
    const out = await compile(yaml).steps[0]!.run(stepContext(gateway, course()));
    expect(gateway.sequence).toEqual(['web/read', 'llm/generate']);
    const llmInput = gateway.calls[1]!.input as { model: string; prompt: string; schema: unknown };
    expect(llmInput.model).toBe('anthropic:claude-haiku-4-5');
    expect(llmInput.prompt).toBe('Staff of Pine Hollow Golf Club: Ann Lee, GM. Dee Fox, Pro.');
    expect(out.writes[0]).toMatchObject({ entity: 'account', field: 'holes', value: 18, provider: 'llm' });
    // Ann Lee is already a contact; Dee Fox is new
    expect(out.newContacts).toEqual([
      {
        id: undefined,
        ref: 'new:dee fox',
        full_name: 'Dee Fox',
        first_name: 'Dee',
        last_name: 'Fox',
        title: 'Head Pro',
      },
    ]);
    expect(out.writes).toHaveLength(1);
    const total = out.writes.reduce((s, w) => s + w.costUsd, 0);
    expect(total).toBeCloseTo(0.003, 6);
  });

  it('does not prompt (or pay) when a context call found nothing', async () => {
    const gateway = new TestGateway({
      'web/read': () => ({ found: false }),
      'llm/generate': () => ({ found: true, output: { object: { holes: 18, staff: [] } } }),
    });
    const out = await compile(yaml).steps[0]!.run(stepContext(gateway, course()));
    expect(out.status).toBe('skipped');
    expect(gateway.sequence).toEqual(['web/read']);
  });

  it('fails the call when the answer does not match the declared schema', async () => {
    const gateway = new TestGateway({
      'web/read': () => ({ found: true, output: { text: '' } }),
      'llm/generate': () => ({ found: true, output: { object: { holes: 'eighteen', staff: [] } } }),
    });
    await expect(compile(yaml).steps[0]!.run(stepContext(gateway, course()))).rejects.toThrow(
      /does not match the step's schema \(holes/,
    );
  });
});

describe('http step', () => {
  let server: Server;
  let hits = 0;
  let port = 0;
  let lastAuth: string | undefined;
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      lastAuth = req.headers.authorization;
      res.setHeader('content-type', 'application/json');
      // An API that echoes the key back (some do, in errors and debug fields).
      res.end(
        JSON.stringify({ data: { employees: 42, path: req.url, echo: req.headers.authorization ?? null } }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** Runs the real http operation; `loopback` is the sandbox's opt-in (never reachable from YAML). */
  const gatewayRunningHttp = (loopback: boolean, env: Record<string, string> = {}) =>
    new TestGateway({
      'http/request': async (input) => {
        const op = httpProvider.operations.request;
        const ctx = createOperationContext(httpProvider, {
          env,
          ...(loopback ? { services: { outbound: { allowLoopback: true } } } : {}),
        });
        const result = await op.run(ctx, op.input.parse(input));
        return result.found ? { found: true, output: result.output } : { found: false };
      },
    });
  const yaml = (host: string, extra = '') => `
name: t
steps:
  - id: size
    kind: http
    url: "http://${host}:${port}/lookup?domain={{urlencode(domain_of(account.website))}}"
${extra}
    output: { employees: body.data.employees, lookup_path: body.data.path, echo: body.data.echo }
`;

  it('refuses loopback and private addresses (also by host name); a pipeline cannot allow them', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const gateway = gatewayRunningHttp(false);
      await expect(compile(yaml(host)).steps[0]!.run(stepContext(gateway, course()))).rejects.toThrow(
        /127\.0\.0\.1 \(.*loopback.*\); Sluice does not send requests to internal addresses/,
      );
    }
    expect(hits).toBe(0);
    expect(() => compile(yaml('127.0.0.1', '    allow_private: true'))).toThrow(
      /allow_private is not supported/,
    );
  });

  it('calls a templated URL through the gateway and maps JSON paths to fields', async () => {
    const gateway = gatewayRunningHttp(true);
    const out = await compile(yaml('127.0.0.1')).steps[0]!.run(stepContext(gateway, course()));
    expect(gateway.calls[0]).toMatchObject({ provider: 'http', operation: 'request' });
    expect(out.writes.map((w) => [w.field, w.value])).toEqual([
      ['employees', 42],
      ['lookup_path', '/lookup?domain=pinehollow.com'],
    ]);
  });

  it('resolves {{secret.NAME}} in headers inside the operation: the gateway input holds a reference, the answer no key', async () => {
    const key = 'sk_PLANTED_http_0123456789';
    const gateway = gatewayRunningHttp(true, { ACME_TOKEN: key });
    const headers = `    headers: { authorization: "Bearer {{secret.ACME_TOKEN}}", x-name: "{{account.name}}" }`;
    const out = await compile(yaml('127.0.0.1', headers)).steps[0]!.run(stepContext(gateway, course()));
    expect(lastAuth).toBe(`Bearer ${key}`);
    const input = gateway.calls[0]!.input as { headers: Record<string, unknown> };
    expect(input.headers).toEqual({
      authorization: ['Bearer ', { secret: 'ACME_TOKEN' }],
      'x-name': 'Pine Hollow Golf Club',
    });
    expect(JSON.stringify(gateway.calls)).not.toContain(key);
    expect(JSON.stringify(out)).not.toContain(key);
    expect(out.writes.find((w) => w.field === 'echo')?.value).toBe('Bearer [redacted]');
    // Only the key's part of the input: method, URL and body, never the headers.
    const keyOf = httpProvider.operations.request.cacheKey!;
    expect(keyOf(httpProvider.operations.request.input.parse(input))).toEqual({
      method: 'GET',
      url: `http://127.0.0.1:${port}/lookup?domain=pinehollow.com`,
      body: undefined,
    });
  });

  it('resolves {{secret.NAME}} in the URL query string the same way: keyed and stored as a reference', async () => {
    const key = 'sk_PLANTED_query_0123456789';
    const gateway = gatewayRunningHttp(true, { ACME_KEY: key });
    const spec = `
name: t
steps:
  - id: size
    kind: http
    url: "http://127.0.0.1:${port}/lookup?domain={{urlencode(domain_of(account.website))}}&api_key={{secret.ACME_KEY}}"
    output: { employees: body.data.employees, lookup_path: body.data.path }
`;
    const out = await compile(spec).steps[0]!.run(stepContext(gateway, course()));
    // The API got the key; the step's input, its cache key and its answer hold the reference only.
    expect(out.writes.find((w) => w.field === 'employees')?.value).toBe(42);
    const input = gateway.calls[0]!.input as { url: unknown };
    expect(input.url).toEqual([
      `http://127.0.0.1:${port}/lookup?domain=pinehollow.com&api_key=`,
      { secret: 'ACME_KEY' },
    ]);
    const keyOf = httpProvider.operations.request.cacheKey!;
    expect(JSON.stringify(keyOf(httpProvider.operations.request.input.parse(input)))).not.toContain(key);
    expect(JSON.stringify(gateway.calls)).not.toContain(key);
    expect(out.writes.find((w) => w.field === 'lookup_path')?.value).toBe(
      '/lookup?domain=pinehollow.com&api_key=[redacted]',
    );
    // Not in the host or the path (messages show those), and an input cannot smuggle one there.
    expect(() => compile(spec.replace('/lookup?', '/{{secret.ACME_KEY}}?'))).toThrow(/query string/);
    expect(() =>
      httpProvider.operations.request.input.parse({ url: ['http://', { secret: 'ACME_KEY' }, '/x'] }),
    ).toThrow(/query string only/);
  });

  it('a record value that looks like a secret reference stays text; secrets outside headers do not compile', async () => {
    const gateway = gatewayRunningHttp(true, { ACME_TOKEN: 'sk_PLANTED_http_0123456789' });
    const rec = course();
    rec.account.name = '{{secret.ACME_TOKEN}}';
    const headers = '    headers: { authorization: "{{account.name}}" }';
    await compile(yaml('127.0.0.1', headers)).steps[0]!.run(stepContext(gateway, rec));
    expect(lastAuth).toBe('{{secret.ACME_TOKEN}}');
    expect(() => compile(yaml('127.0.0.1/{{secret.ACME_TOKEN}}'))).toThrow(/only allowed in the headers/);
    expect(() => compile(yaml('127.0.0.1', '    body: { k: "{{secret.ACME_TOKEN}}" }'))).toThrow(
      /only allowed in the headers/,
    );
    expect(() => compile(yaml('127.0.0.1', '    headers: { a: "{{secret.DATABASE_URL}}" }'))).toThrow(
      /Sluice's own configuration/,
    );
    expect(() => compile(yaml('127.0.0.1', '    headers: { a: "{{lower(secret.ACME_TOKEN)}}" }'))).toThrow(
      /must stand alone/,
    );
    const missing = gatewayRunningHttp(true, {});
    await expect(
      compile(yaml('127.0.0.1', '    headers: { a: "{{secret.ACME_TOKEN}}" }')).steps[0]!.run(
        stepContext(missing, course()),
      ),
    ).rejects.toThrow(/\{\{secret\.ACME_TOKEN\}\} is not set; set ACME_TOKEN/);
  });
});
