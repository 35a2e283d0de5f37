import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderDefinition } from '../src/providers/define-provider.ts';
import { createOperationContext } from '../src/providers/http.ts';
import { getOperation } from '../src/providers/registry.ts';
import { createAnthropicFake } from '../src/sandbox/fakes/anthropic.ts';
import { createHunterFake } from '../src/sandbox/fakes/hunter.ts';
import { segmentOf } from '../src/sandbox/reader/classify.ts';
import { readCourse } from '../src/sandbox/reader/read-course.ts';
import { createLuck } from '../src/sandbox/reader/reader-rates.ts';
import { createSandboxModel } from '../src/sandbox/sandbox-model.ts';
import { htmlToMarkdown, renderPage } from '../src/sandbox/site-render.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/start-sandbox.ts';
import { generateWorld } from '../src/sandbox/world.ts';

/**
 * The sandbox model reads the prompt: what a page says is what it answers, lies included; what it does
 * not say is null or a low-confidence guess; hard forms are missed at the declared rates. Web-search
 * answers come from an index with gaps and unlabelled wrong documents.
 */
let sb: Sandbox;
beforeAll(async () => {
  sb = await startSandbox({ seed: 1, fakes: { latencyScale: 0, faultRate: 0 } });
});
afterAll(() => sb.stop());

async function generate(model: string, prompt: string, schema: Record<string, unknown>) {
  const { provider, operation } = getOperation('llm', 'generate');
  const ctx = createOperationContext(provider as ProviderDefinition, { env: sb.env, timeoutMs: 10_000 });
  const r = await operation.run(ctx, operation.input.parse({ model, prompt, schema }));
  if (!r.found) throw new Error('expected an answer');
  return (r.output as { object: Record<string, unknown> }).object;
}

const COURSE_SCHEMA = {
  type: 'object',
  properties: {
    holes: { type: ['integer', 'null'] },
    par: { type: ['integer', 'null'] },
    green_fee_usd: { type: ['number', 'null'] },
    access: { type: 'string', enum: ['private', 'semi-private', 'public', 'municipal', 'resort'] },
  },
  required: ['holes', 'par', 'green_fee_usd', 'access'],
};
const INTEL_SCHEMA = {
  type: 'object',
  properties: {
    segment: { type: 'string', enum: ['high-end', 'budget', 'both'] },
    segment_confidence: { type: 'integer', minimum: 1, maximum: 10 },
  },
  required: ['segment', 'segment_confidence'],
};

describe('sandbox model over HTTP (the llm provider, AI SDK, Anthropic-compatible fake)', () => {
  it('given a page that lies about a real course, reports the lie, and classifies by it', async () => {
    const course = sb.world.courses.find((c) => c.course!.holes === 18 && c.course!.segment === 'high-end')!;
    const page = `Course: ${course.name} (${course.domain}), ${course.city}, VA.\nWebsite text:\nWelcome to ${course.name}, a 9-hole, par 27 municipal golf facility. Green fees from $5.`;
    const facts = await generate('anthropic:claude-haiku-4-5', page, COURSE_SCHEMA);
    expect(facts).toEqual({ holes: 9, par: 27, green_fee_usd: 5, access: 'municipal' });
    const intel = await generate(
      'anthropic:claude-sonnet-4-5',
      `Course: ${course.name} (${course.domain}), ${course.city}, VA.\nKnown facts:\nholes: 9\naccess: municipal\ngreen fee: $5\ndriving range: unknown`,
      INTEL_SCHEMA,
    );
    expect(intel.segment).toBe('budget');
    expect(course.course!.segment).toBe('high-end');
  });

  it('an empty prompt yields nulls and the lowest confidence, not the truth', async () => {
    const course = sb.world.courses[0]!;
    const facts = await generate(
      'openai:gpt-4o-mini',
      `Course: ${course.name} (${course.domain}).`,
      COURSE_SCHEMA,
    );
    expect(facts).toMatchObject({ holes: null, par: null, green_fee_usd: null });
    const intel = await generate(
      'anthropic:claude-sonnet-4-5',
      `Course: ${course.name}.\nKnown facts:\nholes: unknown\naccess: unknown\ngreen fee: $unknown`,
      INTEL_SCHEMA,
    );
    expect(intel.segment_confidence).toBe(1);
  });
});

describe('the reader and the classification rule', () => {
  it('misses hard forms at about the declared rates: labelled rarely, prose often, spelled-out numbers mostly', () => {
    const w = generateWorld(1);
    const luck = createLuck(1);
    const tally = { labelled: [0, 0], prose: [0, 0], words: [0, 0] };
    for (const c of w.courses) {
      if (!c.website) continue;
      const text = htmlToMarkdown(renderPage(c, '/')!.html);
      const r = readCourse(text, luck);
      const holesForm = c.siteSpellsNumbers ? 'words' : 'labelled';
      tally[holesForm][1]!++;
      if (r.holes?.value === c.course!.holes) tally[holesForm][0]!++;
      if (c.course!.waterHazards > 0 && !c.siteSpellsNumbers) {
        tally.prose[1]!++;
        if (r.waterHazards?.value === c.course!.waterHazards) tally.prose[0]!++;
      }
    }
    const readRate = (f: keyof typeof tally) => tally[f][0]! / tally[f][1]!;
    expect(readRate('labelled')).toBeGreaterThan(0.9);
    expect(readRate('prose')).toBeGreaterThan(0.55);
    expect(readRate('prose')).toBeLessThan(0.85);
    expect(readRate('words')).toBeLessThan(0.6);
  });

  it('segments by the green fee read, else by access, else not at all', () => {
    const labelled = <T>(value: T) => ({ value, form: 'labelled' as const });
    expect(segmentOf({ greenFeeUsd: labelled(151) }).segment).toBe('high-end');
    expect(segmentOf({ greenFeeUsd: labelled(30) }).segment).toBe('budget');
    expect(segmentOf({ greenFeeUsd: labelled(70) }).segment).toBe('both');
    expect(segmentOf({ access: labelled('private') })).toEqual({ segment: 'high-end', confidence: 3 });
    expect(segmentOf({})).toEqual({ segment: null, confidence: 1 });
  });
});

describe('web search (the simulated index)', () => {
  it('finds most LinkedIn profiles, misses some, and is sometimes wrong without saying so', () => {
    const model = createSandboxModel(sb.world);
    let found = 0;
    let wrong = 0;
    let asked = 0;
    for (const c of sb.world.courses.slice(0, 120)) {
      for (const p of c.people) {
        if (!p.linkedinUrl) continue;
        asked++;
        const a = model.answer({
          prompt: `What is the LinkedIn profile URL of ${p.fullName} (${p.title}) at ${c.name} (${c.domain})? null if unknown.`,
          schema: { type: 'object', properties: { linkedin_url: { type: ['string', 'null'] } } },
          webSearch: true,
        });
        const url = a.object!.linkedin_url;
        if (url === null) continue;
        found++;
        if (url !== p.linkedinUrl) wrong++;
      }
    }
    expect(asked).toBeGreaterThan(250);
    expect(found / asked).toBeGreaterThan(0.6);
    expect(found / asked).toBeLessThan(0.95);
    expect(wrong / found).toBeGreaterThan(0.02);
    expect(wrong / found).toBeLessThan(0.2);
  });
});

describe('model fakes speak the vendors’ wire formats', () => {
  it('anthropic: a forced json tool is answered with a tool_use block; a spent window is 429 with Retry-After', async () => {
    const fake = createAnthropicFake(sb.world, sb.model, { latencyScale: 0, faultRate: 0, perMinute: 1 });
    const headers = {
      'x-api-key': fake.apiKey,
      'anthropic-version': '2023-06-01',
      'content-type': 'application/json',
    };
    const body = JSON.stringify({
      model: 'claude-3-haiku-20240307',
      max_tokens: 100,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'A 27-hole, par 72 resort golf course.' }] },
      ],
      tools: [{ name: 'json', description: 'Respond with a JSON object.', input_schema: COURSE_SCHEMA }],
      tool_choice: { type: 'tool', name: 'json' },
    });
    const res = await fake.app.request('/v1/messages', { method: 'POST', headers, body });
    expect(res.status).toBe(200);
    const msg = (await res.json()) as { stop_reason: string; content: { type: string; input: unknown }[] };
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.content[0]).toMatchObject({
      type: 'tool_use',
      input: { holes: 27, par: 72, access: 'resort' },
    });
    const again = await fake.app.request('/v1/messages', { method: 'POST', headers, body });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await again.json()) as { error: { type: string } }).error.type).toBe('rate_limit_error');
  });
});

describe('hunter fake: verification is not an oracle, wrong answers do not label themselves', () => {
  const world = generateWorld(1);
  const fake = createHunterFake(world, { latencyScale: 0, faultRate: 0 });
  const get = async (path: string) =>
    (await (await fake.app.request(`${path}&api_key=${fake.apiKey}`)).json()) as {
      data: { email: string | null; status?: string; verification?: { status: string | null } };
    };

  it('the verifier answers accept_all and unknown for some domains, even for addresses nobody has', async () => {
    const acceptAll = world.courses.find((c) => c.mailServer === 'accept-all')!;
    const silent = world.courses.find((c) => c.mailServer === 'unresponsive')!;
    const normal = world.courses.find((c) => c.mailServer === 'normal')!;
    expect((await get(`/email-verifier?email=nobody.here@${acceptAll.domain}`)).data.status).toBe(
      'accept_all',
    );
    expect((await get(`/email-verifier?email=nobody.here@${silent.domain}`)).data.status).toBe('unknown');
    expect((await get(`/email-verifier?email=nobody.here@${normal.domain}`)).data.status).toBe('invalid');
  });

  it('right and wrong finder answers carry the same verification statuses', async () => {
    const people = world.courses
      .filter((c) => c.mailServer === 'normal')
      .flatMap((c) => c.people.map((p) => ({ c, p })));
    // Pattern breakers whose address is not published: Hunter can only extrapolate, so it is wrong.
    const breakers = people.filter(({ p }) => p.emailKind !== 'pattern' && !p.emailOnSite).slice(0, 14);
    const followers = people.filter(({ p }) => p.emailKind === 'pattern').slice(0, 14);
    const statuses = { right: new Set<string | null>(), wrong: new Set<string | null>() };
    for (const [i, { c, p }] of [...breakers, ...followers].entries()) {
      if (i > 0 && i % 14 === 0) await new Promise((r) => setTimeout(r, 1_100)); // Hunter's 15/s
      const q = `domain=${c.domain}&first_name=${encodeURIComponent(p.firstName)}&last_name=${encodeURIComponent(p.lastName)}`;
      const r = await get(`/email-finder?${q}`);
      if (!r.data.email) continue;
      statuses[r.data.email === p.email ? 'right' : 'wrong'].add(r.data.verification?.status ?? null);
    }
    expect(statuses.wrong.size).toBe(2);
    expect([...statuses.wrong].sort()).toEqual([...statuses.right].sort());
  });
});
