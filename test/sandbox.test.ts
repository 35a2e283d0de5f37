import { readFileSync } from 'node:fs';
import { generateObject, jsonSchema } from 'ai';
import { describe, expect, it } from 'vitest';
import { extractPage } from '../src/providers/website/extract.ts';
import { SAMPLE_SEED, sampleCsv } from '../src/sandbox/sample-csv.ts';
import { createSandboxLanguageModel } from '../src/sandbox/sandbox-llm.ts';
import { renderPage } from '../src/sandbox/site-render.ts';
import { applyPattern, generateWorld } from '../src/sandbox/world.ts';

describe('sandbox world', () => {
  it('is deterministic: same seed, same world; another seed, another world', () => {
    const a = JSON.stringify(generateWorld(42).companies);
    expect(JSON.stringify(generateWorld(42).companies)).toBe(a);
    expect(JSON.stringify(generateWorld(43).companies)).not.toBe(a);
  });

  it('holds 200+ Virginia golf courses whose people follow their domain’s email pattern', () => {
    const w = generateWorld(1);
    expect(w.courses.length).toBeGreaterThanOrEqual(200);
    expect(new Set(w.courses.map((c) => c.domain)).size).toBe(w.courses.length);
    for (const c of w.companies) {
      expect(c.state).toBe('VA');
      expect(c.phone).toMatch(/^\+1\d{10}$/);
      for (const p of c.people)
        expect(p.email).toBe(applyPattern(c.emailPattern, p.firstName, p.lastName, c.domain));
    }
    expect(new Set(w.people.map((p) => p.email)).size).toBe(w.people.length);
  });

  it('the bundled sample CSV is the one the generator writes (regenerate with src/sandbox/write-sample.ts)', () => {
    const bundled = readFileSync(new URL('../data/virginia-golf-courses.csv', import.meta.url), 'utf8');
    expect(bundled).toBe(sampleCsv(generateWorld(SAMPLE_SEED)));
    expect(bundled.trim().split('\n')).toHaveLength(201);
  });

  it('staff pages in every layout yield the listed staff to the website extractor', () => {
    const w = generateWorld(5);
    let checked = 0;
    for (const c of w.companies) {
      if (!c.website || !c.staffPath) continue;
      const facts = extractPage(renderPage(c, c.staffPath)!.html, `${c.website}${c.staffPath.slice(1)}`);
      const listed = c.people.filter((p) => p.onStaffPage);
      expect(facts.staff.map((s) => s.name)).toEqual(listed.map((p) => p.fullName));
      for (const [i, s] of facts.staff.entries()) {
        expect(s.title).toBe(listed[i]!.title);
        expect(s.email).toBe(listed[i]!.emailOnSite ? listed[i]!.email : null);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
  });
});

describe('sandbox LLM', () => {
  it('answers an AI SDK generateObject call from the world, with token usage', async () => {
    const w = generateWorld(1);
    const course = w.courses.find((c) => c.course!.hasDrivingRange)!;
    const person = course.people[0]!;
    const r = await generateObject({
      model: createSandboxLanguageModel(w, 'anthropic:claude-sonnet-4-5'),
      prompt: `Course: ${course.name} (${course.website}). Contact: ${person.fullName}. Classify and research.`,
      schema: jsonSchema<{
        segment: string;
        segment_confidence: number;
        opportunities: { range_ball_buy: number; range_ball_lease: number };
        tenure_years: number;
        previous_clubs: string[];
        conversation_starters: { text: string; score: number }[];
      }>({
        type: 'object',
        properties: {
          segment: { type: 'string', enum: ['high-end', 'budget', 'both'] },
          segment_confidence: { type: 'integer', minimum: 1, maximum: 10 },
          opportunities: {
            type: 'object',
            properties: { range_ball_buy: { type: 'integer' }, range_ball_lease: { type: 'integer' } },
          },
          tenure_years: { type: 'integer' },
          previous_clubs: { type: 'array', items: { type: 'string' } },
          conversation_starters: {
            type: 'array',
            items: { type: 'object', properties: { text: { type: 'string' }, score: { type: 'integer' } } },
          },
        },
        required: ['segment'],
      }),
    });
    expect(r.object.segment).toBe(course.course!.segment);
    expect(r.object.segment_confidence).toBe(course.course!.segmentConfidence);
    expect(r.object.opportunities.range_ball_lease).toBe(course.course!.opportunities.range_ball_lease);
    expect(r.object.tenure_years).toBe(person.tenureYears);
    expect(r.object.previous_clubs).toEqual(person.previousClubs);
    expect(r.object.conversation_starters[0]!.text).toContain(course.name);
    expect(r.usage.inputTokens).toBeGreaterThan(0);
    expect(r.usage.outputTokens).toBeGreaterThan(0);
  });
});
