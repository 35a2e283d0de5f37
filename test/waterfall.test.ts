import { describe, expect, it } from 'vitest';
import type { RecordView } from '../src/engine/pipeline-types.ts';
import { CriticalError, QuotaExhaustedError, ThrottledError } from '../src/errors.ts';
import { parsePipeline } from '../src/pipelines/load.ts';
import { type Answer, contact, stepContext, TestGateway } from './pipelines-test-gateway.ts';

/** A per-contact email waterfall: a (free) → b → c, each needing a domain and a name; verified by v. */
const PIPELINE = `
name: wf
steps:
  - id: people
    kind: foreach
    steps:
      - id: email
        kind: waterfall
        fields: [email]
        providers:
          - provider: a
            operation: find
            input: { domain: "{{account.domain}}", first: "{{contact.first_name}}", last: "{{contact.last_name}}" }
            output: { email: email }
          - provider: b
            operation: find
            input: { domain: "{{account.domain}}", name: "{{contact.first_name}} {{contact.last_name}}", phone: "{{contact.phone}}" }
            optional_inputs: [phone]
            output: { email: data.email }
          - provider: c
            operation: match
            input: { linkedin: "{{contact.linkedin_url}}" }
            output: { email: person.email }
            confidence: 0.6
        validate:
          provider: v
          operation: verify
          input: { email: "{{value}}" }
          accept: output.status in ['valid', 'accept_all']
`;

function run(handlers: Record<string, (input: Record<string, unknown>) => Answer>, record: RecordView) {
  const { definition } = parsePipeline(PIPELINE, 'wf.yaml', { checkProviders: false });
  const gateway = new TestGateway(handlers);
  return { gateway, result: definition.steps[0]!.run(stepContext(gateway, record)) };
}

const record = (fields: Record<string, unknown> = {}): RecordView => ({
  account: { id: 1, name: 'Pine Hollow Golf Club', domain: 'pinehollow.com' },
  contacts: [contact(7, { first_name: 'Ann', last_name: 'Lee', ...fields })],
});

/** The email waterfall's own report for the one contact. */
const attempts = (out: { data?: Record<string, unknown> }) =>
  (out.data as { contacts: Record<string, { email: { data: { attempts: { result: string }[] } } }> })
    .contacts['id:7']!.email.data.attempts;

const valid = () => ({ found: true as const, output: { status: 'valid' }, costUsd: 0.01 });

describe('waterfall', () => {
  it('tries providers in order and stops at the first valid hit', async () => {
    const { gateway, result } = run(
      {
        'a/find': () => ({ found: false }),
        'b/find': (i) => ({
          found: true,
          output: { data: { email: `ann@${i.domain}` } },
          costUsd: 0.02,
          confidence: 0.9,
        }),
        'c/match': () => ({ found: true, output: { person: { email: 'wrong@x.com' } } }),
        'v/verify': valid,
      },
      record({ linkedin_url: 'https://www.linkedin.com/in/ann' }),
    );
    const out = await result;
    expect(gateway.sequence).toEqual(['a/find', 'b/find', 'v/verify']);
    expect(out.status).toBe('found');
    expect(out.writes).toHaveLength(1);
    const w = out.writes[0]!;
    expect(w).toMatchObject({
      entity: 'contact',
      contactRef: 'id:7',
      field: 'email',
      value: 'ann@pinehollow.com',
      source: 'provider',
      provider: 'b',
      operation: 'find',
      confidence: 0.9,
    });
    // the call's cost plus the verification that accepted it
    expect(w.costUsd).toBeCloseTo(0.03, 6);
    expect(Number.isNaN(Date.parse(w.observedAt))).toBe(false);
  });

  it('falls through to the next provider when the validator rejects a candidate', async () => {
    const { gateway, result } = run(
      {
        'a/find': () => ({ found: true, output: { email: 'a.lee@pinehollow.com' } }),
        'b/find': () => ({ found: true, output: { data: { email: 'alee@pinehollow.com' } }, costUsd: 0.02 }),
        'c/match': () => ({ found: false }),
        'v/verify': (i) => ({
          found: true,
          output: { status: i.email === 'alee@pinehollow.com' ? 'valid' : 'invalid' },
        }),
      },
      record(),
    );
    const out = await result;
    expect(gateway.sequence).toEqual(['a/find', 'v/verify', 'b/find', 'v/verify']);
    expect(gateway.calls[1]!.input).toEqual({ email: 'a.lee@pinehollow.com' });
    expect(out.writes.map((w) => [w.field, w.value, w.provider])).toEqual([
      ['email', 'alee@pinehollow.com', 'b'],
    ]);
    expect(attempts(out).map((a) => a.result)).toEqual(['rejected', 'hit']);
  });

  it('skips a provider whose required inputs are missing, and leaves out empty optional inputs', async () => {
    const { gateway, result } = run(
      {
        'a/find': () => ({ found: false }),
        'b/find': () => ({ found: false }),
        'c/match': () => ({ found: true, output: { person: { email: 'x@y.com' } } }),
        'v/verify': valid,
      },
      // no linkedin_url: c needs it; no phone: b may go without
      record(),
    );
    const out = await result;
    expect(gateway.sequence).toEqual(['a/find', 'b/find']);
    expect(gateway.calls[1]!.input).toEqual({ domain: 'pinehollow.com', name: 'Ann Lee' });
    expect(out.status).toBe('not_found');
    expect(attempts(out)).toContainEqual({
      provider: 'c',
      operation: 'match',
      result: 'skipped_missing_input',
      detail: 'linkedin',
    });
  });

  it('is skipped without any call when no provider has its inputs', async () => {
    const { gateway, result } = run(
      {},
      {
        account: { id: 1, name: 'No Domain GC' },
        contacts: [contact(7, { first_name: 'Ann' })],
      },
    );
    const out = await result;
    expect(gateway.calls).toHaveLength(0);
    expect(out.data).toMatchObject({ contacts: { 'id:7': { email: { status: 'skipped' } } } });
  });

  it('does not pay for a field the record already has', async () => {
    const { gateway, result } = run({}, record({ email: 'known@pinehollow.com' }));
    const out = await result;
    expect(gateway.calls).toHaveLength(0);
    expect(out.writes).toEqual([]);
  });

  it('passes over a provider that fails critically, and fails the contact (not "not found") when every provider failed', async () => {
    const broken = () => {
      throw new CriticalError('garbage body');
    };
    const ok = run(
      {
        'a/find': broken,
        'b/find': () => ({ found: true, output: { data: { email: 'ann@pinehollow.com' } } }),
        'v/verify': valid,
      },
      record(),
    );
    expect((await ok.result).writes[0]?.provider).toBe('b');

    // Every provider failed: inside foreach that contact's step is failed, with each provider's reason.
    const allBroken = run({ 'a/find': broken, 'b/find': broken }, record());
    const out = await allBroken.result;
    expect(out.writes).toEqual([]);
    expect(out.status).toBe('failed');
    expect(out.data).toMatchObject({
      contacts: { 'id:7': { email: { status: 'failed' } } },
      errors: [
        { contact: 'id:7', provider: 'a', message: 'garbage body' },
        { contact: 'id:7', provider: 'b', message: 'garbage body' },
      ],
    });
  });

  it('lets throttles propagate so the run engine reschedules the run', async () => {
    const { result } = run(
      {
        'a/find': () => {
          throw new ThrottledError('slow down', { retryAfterMs: 5000 });
        },
      },
      record(),
    );
    await expect(result).rejects.toBeInstanceOf(ThrottledError);
  });

  it('skips the paid check when the provider already verified the value (verified_when)', async () => {
    const yaml = `
name: wf
steps:
  - id: people
    kind: foreach
    steps:
      - id: email
        kind: waterfall
        fields: [email]
        providers:
          - provider: b
            operation: find
            input: { domain: "{{account.domain}}" }
            output: { email: data.email }
            verified_when: output.data.status == 'valid'
        validate:
          provider: v
          operation: verify
          input: { email: "{{value}}" }
          accept: output.status == 'valid'
`;
    const { definition } = parsePipeline(yaml, 'wf.yaml', { checkProviders: false });
    const answer = (status: string) => () => ({
      found: true as const,
      output: { data: { email: 'ann@pinehollow.com', status } },
    });
    const trusted = new TestGateway({ 'b/find': answer('valid'), 'v/verify': valid });
    const out = await definition.steps[0]!.run(stepContext(trusted, record()));
    expect(trusted.sequence).toEqual(['b/find']);
    expect(out.writes[0]?.value).toBe('ann@pinehollow.com');
    const unsure = new TestGateway({ 'b/find': answer('unknown'), 'v/verify': valid });
    await definition.steps[0]!.run(stepContext(unsure, record()));
    expect(unsure.sequence).toEqual(['b/find', 'v/verify']);
  });

  it('lets a later contact use what an earlier one found (foreach one at a time)', async () => {
    const yaml = `
name: wf
steps:
  - id: people
    kind: foreach
    concurrency: 1
    steps:
      - id: email
        kind: waterfall
        fields: [email]
        providers:
          - provider: pattern
            operation: infer
            input: { last: "{{contact.last_name}}", known: "{{people_with_email(contacts)}}" }
            output: { email: email }
          - provider: b
            operation: find
            input: { last: "{{contact.last_name}}" }
            output: { email: email }
`;
    const { definition } = parsePipeline(yaml, 'wf.yaml', { checkProviders: false });
    const gateway = new TestGateway({
      'pattern/infer': (i) => ({
        found: true,
        output: { email: `${String(i.last).toLowerCase()}@pinehollow.com` },
      }),
      'b/find': (i) => ({ found: true, output: { email: `${String(i.last).toLowerCase()}@pinehollow.com` } }),
    });
    const twoPeople: RecordView = {
      account: { id: 1, domain: 'pinehollow.com' },
      contacts: [
        contact(1, { first_name: 'Ann', last_name: 'Lee' }),
        contact(2, { first_name: 'Bo', last_name: 'Diaz' }),
      ],
    };
    const out = await definition.steps[0]!.run(stepContext(gateway, twoPeople));
    // Ann: no evidence yet, so the pattern step is skipped and b pays; Bo: Ann's email is evidence.
    expect(gateway.sequence).toEqual(['b/find', 'pattern/infer']);
    expect(gateway.calls[1]!.input).toEqual({
      last: 'Diaz',
      known: [{ first_name: 'Ann', last_name: 'Lee', email: 'lee@pinehollow.com' }],
    });
    expect(out.writes.map((w) => [w.contactRef, w.provider])).toEqual([
      ['id:1', 'b'],
      ['id:2', 'pattern'],
    ]);
  });

  it('passes only vouched-for emails as evidence, never the ones the run itself found or guessed', async () => {
    const yaml = `
name: wf
steps:
  - id: people
    kind: foreach
    concurrency: 1
    steps:
      - id: email
        kind: waterfall
        fields: [email]
        providers:
          - provider: pattern
            operation: infer
            input: { last: "{{contact.last_name}}", known: "{{people_with_email(contacts, 'email_published')}}" }
            output: { email: email }
`;
    const { definition } = parsePipeline(yaml, 'wf.yaml', { checkProviders: false });
    const gateway = new TestGateway({
      'pattern/infer': (i) => ({
        found: true,
        output: { email: `${String(i.last).toLowerCase()}@pinehollow.com` },
      }),
    });
    const published = {
      first_name: 'Ann',
      last_name: 'Lee',
      email: 'alee@pinehollow.com',
      email_published: 'alee@pinehollow.com',
    };
    const record: RecordView = {
      account: { id: 1, domain: 'pinehollow.com' },
      contacts: [
        contact(1, published),
        contact(2, { first_name: 'Bo', last_name: 'Diaz' }),
        contact(3, { first_name: 'Cy', last_name: 'Ng' }),
      ],
    };
    await definition.steps[0]!.run(stepContext(gateway, record));
    // Cy's evidence is Ann's published address only, not the address guessed for Bo a moment before.
    const evidence = [{ first_name: 'Ann', last_name: 'Lee', email: 'alee@pinehollow.com' }];
    expect(gateway.calls.map((c) => c.input)).toEqual([
      { last: 'Diaz', known: evidence },
      { last: 'Ng', known: evidence },
    ]);
  });

  it('does not write a candidate the validator cannot check, and tries the next provider', async () => {
    const { gateway, result } = run(
      {
        'a/find': () => ({ found: true, output: { email: 'a.lee@pinehollow.com' } }),
        'b/find': () => ({ found: true, output: { data: { email: 'alee@pinehollow.com' } } }),
        'v/verify': (i) => {
          if (i.email === 'a.lee@pinehollow.com') throw new QuotaExhaustedError('verifier credits used up');
          return { found: true, output: { status: 'valid' } };
        },
      },
      record(),
    );
    const out = await result;
    expect(gateway.sequence).toEqual(['a/find', 'v/verify', 'b/find', 'v/verify']);
    expect(out.writes.map((w) => w.value)).toEqual(['alee@pinehollow.com']);
    expect(attempts(out)[0]).toMatchObject({
      result: 'rejected',
      detail: expect.stringMatching(/cannot verify/),
    });
  });

  it('fails the step (never "not found") when every provider tried failed, listing each reason', async () => {
    const yaml = `
name: wf
steps:
  - id: website
    kind: waterfall
    fields: [website]
    providers:
      - { provider: a, operation: find, input: { q: "{{account.name}}" }, output: { website: url } }
      - { provider: b, operation: find, input: { q: "{{account.name}}" }, output: { website: url } }
`;
    const { definition } = parsePipeline(yaml, 'wf.yaml', { checkProviders: false });
    const gateway = new TestGateway({
      'a/find': () => {
        throw new CriticalError('HTTP 401: check A_API_KEY');
      },
      'b/find': () => {
        throw new CriticalError('malformed body');
      },
    });
    const out = await definition.steps[0]!.run(stepContext(gateway, record()));
    expect(out.status).toBe('failed');
    expect(out.data?.errors).toEqual([
      {
        step: 'website',
        provider: 'a',
        operation: 'find',
        errorClass: 'critical',
        message: 'HTTP 401: check A_API_KEY',
      },
      {
        step: 'website',
        provider: 'b',
        operation: 'find',
        errorClass: 'critical',
        message: 'malformed body',
      },
    ]);
    expect(gateway.sequence).toEqual(['a/find', 'b/find']);
  });
});
