import { expect, it } from 'vitest';
import { createSandboxModel } from '../src/sandbox/sandbox-model.ts';
import { htmlToMarkdown, renderPage } from '../src/sandbox/site-render.ts';
import { type Company, generateWorld } from '../src/sandbox/world.ts';

/**
 * Accuracy is measured, not copied: the sandbox model segments every course of the world from its
 * home page, scored against the world's truth. Make the pages lie about the green fee (a budget
 * course claims $150, the others $25) and the measured accuracy collapses; take the fee off the pages
 * and it falls to what access alone tells, at lower confidence. A model that read the truth instead
 * of the page would score the same three times.
 */
const INTEL_SCHEMA = {
  type: 'object',
  properties: {
    segment: { type: 'string', enum: ['high-end', 'budget', 'both'] },
    segment_confidence: { type: 'integer', minimum: 1, maximum: 10 },
  },
  required: ['segment', 'segment_confidence'],
};
const FEE = /Green fees from \$\d+\./;

it('segment accuracy measured over the world falls when the pages lie, and when they say less', () => {
  const world = generateWorld(1);
  const model = createSandboxModel(world);
  const courses = world.courses.filter((c): c is Company & { course: NonNullable<Company['course']> } =>
    Boolean(c.website && c.course && FEE.test(renderPage(c, '/')?.html ?? '')),
  );
  expect(courses.length).toBeGreaterThan(150);

  const score = (page: (c: (typeof courses)[number], html: string) => string) => {
    let right = 0;
    let confidence = 0;
    for (const c of courses) {
      const html = page(c, renderPage(c, '/')!.html);
      const prompt = `Course: ${c.name} (${c.domain}), ${c.city}, VA.\nWebsite text:\n${htmlToMarkdown(html)}`;
      const a = model.answer({ prompt, schema: INTEL_SCHEMA, webSearch: false }).object!;
      if (a.segment === c.course.segment) right++;
      confidence += a.segment_confidence as number;
    }
    return { accuracy: right / courses.length, confidence: confidence / courses.length };
  };
  const honest = score((_c, html) => html);
  const lying = score((c, html) =>
    html.replace(FEE, `Green fees from $${c.course.segment === 'budget' ? 150 : 25}.`),
  );
  const silent = score((_c, html) => html.replace(FEE, ''));

  // Honest pages: right most of the time (the misses: outdated fees, misreadings at declared rates).
  expect(honest.accuracy).toBeGreaterThan(0.7);
  expect(honest.accuracy).toBeLessThan(1);
  // Every page lies: the model reports the lies, and the measurement shows it.
  expect(lying.accuracy).toBeLessThan(0.1);
  // Nothing about fees: access alone, right less often and said with less confidence.
  expect(silent.accuracy).toBeLessThan(honest.accuracy - 0.1);
  expect(silent.confidence).toBeLessThan(honest.confidence);
});
