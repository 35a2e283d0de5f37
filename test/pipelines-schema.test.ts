import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JSON_SCHEMA_FILE, pipelineJsonSchemaText } from '../src/pipelines/json-schema.ts';
import { PipelineFileError, parsePipeline } from '../src/pipelines/load.ts';
import { loadPipeline, resolvePipeline } from '../src/pipelines/resolve.ts';

function errorOf(text: string, options = { checkProviders: false }): PipelineFileError {
  try {
    parsePipeline(text, 'my.yaml', options);
  } catch (err) {
    if (err instanceof PipelineFileError) return err;
    throw err;
  }
  throw new Error('expected the pipeline to be rejected');
}

const lines = (...l: string[]) => `${l.join('\n')}\n`;

describe('pipeline file validation', () => {
  it('names file, line and field of a missing required key', () => {
    const err = errorOf(
      lines(
        'name: t',
        'steps:',
        '  - id: email',
        '    kind: waterfall',
        '    fields: [email]',
        '    providers:',
        '      - provider: hunter',
        '        output: { email: email }',
      ),
    );
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({
      file: 'my.yaml',
      line: 7,
      field: 'steps[0].providers[0].operation',
    });
    expect(err.message).toContain('my.yaml:7:');
    expect(err.message).toContain('steps[0].providers[0].operation');
    expect(err.message).toMatch(/sluice pipelines validate/);
  });

  it('points at the line of an unknown (misspelled) key', () => {
    const err = errorOf(
      lines(
        'name: t',
        'steps:',
        '  - id: d',
        '    kind: formula',
        '    fields: { x: "1" }',
        '    wehn: "true"',
      ),
    );
    expect(err.issues[0]).toMatchObject({ line: 6, col: 5, field: 'steps[0].wehn' });
    expect(err.issues[0]!.message).toMatch(/unknown key "wehn"/);
  });

  it('reports a bad value with its line, e.g. a model id without a provider prefix', () => {
    const err = errorOf(
      lines(
        'name: t',
        'steps:',
        '  - id: seg',
        '    kind: ai',
        '    model: gpt-4o',
        '    prompt: hi',
        '    schema: {}',
      ),
    );
    expect(err.issues[0]).toMatchObject({ line: 5, field: 'steps[0].model' });
    expect(err.issues[0]!.message).toMatch(/anthropic:claude/);
  });

  it('reports an unknown step kind', () => {
    const err = errorOf(lines('name: t', 'steps:', '  - id: x', '    kind: magic'));
    expect(err.issues[0]).toMatchObject({ line: 4, field: 'steps[0].kind' });
    expect(err.issues[0]!.message).toMatch(/waterfall, ai, http, formula, foreach/);
  });

  it('rejects an expression naming an unknown field root or function, at its line', () => {
    const bad = errorOf(
      lines(
        'name: t',
        'steps:',
        '  - id: d',
        '    kind: formula',
        '    when: is_empty(acount.website)',
        '    fields: { x: "1" }',
      ),
    );
    expect(bad.issues[0]).toMatchObject({ line: 5, field: 'steps[0].when' });
    expect(bad.issues[0]!.message).toMatch(/unknown name "acount"/);
    const fn = errorOf(
      lines('name: t', 'steps:', '  - id: d', '    kind: formula', '    fields:', '      x: eval("1")'),
    );
    expect(fn.issues[0]).toMatchObject({ line: 6, field: 'steps[0].fields.x' });
    expect(fn.issues[0]!.message).toMatch(/unknown function "eval"/);
  });

  it('reports YAML syntax errors with their line', () => {
    const err = errorOf(lines('name: t', 'steps:', '  - id: d', '    kind: formula', '    fields: { x: "1"'));
    expect(err.issues[0]!.line).toBeGreaterThanOrEqual(5);
  });

  it('rejects duplicate step ids and contact fields outside foreach', () => {
    const dup = errorOf(
      lines(
        'name: t',
        'steps:',
        '  - { id: d, kind: formula, fields: { x: "1" } }',
        '  - { id: d, kind: formula, fields: { y: "2" } }',
      ),
    );
    expect(dup.issues[0]).toMatchObject({ line: 4, field: 'steps[1].id' });
    const outside = errorOf(
      lines('name: t', 'steps:', '  - id: d', '    kind: formula', '    fields:', '      contact.x: "1"'),
    );
    expect(outside.issues[0]!.message).toMatch(/not inside a foreach/);
  });

  it('checks provider, operation and input names against the registry', () => {
    const unknownOp = errorOf(
      lines(
        'name: t',
        'steps:',
        '  - id: p',
        '    kind: foreach',
        '    steps:',
        '      - id: email',
        '        kind: waterfall',
        '        fields: [email]',
        '        providers:',
        '          - provider: hunter',
        '            operation: email-findr',
        '            input: { domain: "{{account.domain}}" }',
        '            output: { email: email }',
      ),
      { checkProviders: true },
    );
    expect(unknownOp.issues[0]).toMatchObject({
      line: 11,
      field: 'steps[0].steps[0].providers[0].operation',
    });
    expect(unknownOp.issues[0]!.message).toMatch(/email-finder/);
    const unknownProvider = errorOf(
      lines(
        'name: t',
        'steps:',
        '  - id: w',
        '    kind: waterfall',
        '    fields: [x]',
        '    providers:',
        '      - { provider: nosuch, operation: op, output: { x: x } }',
      ),
      { checkProviders: true },
    );
    expect(unknownProvider.issues[0]).toMatchObject({ line: 7, field: 'steps[0].providers[0].provider' });
  });

  it('keeps schemas/pipeline.schema.json up to date with the zod schema', () => {
    // Regenerate with: npx tsx src/pipelines/json-schema.ts --write
    expect(JSON.parse(readFileSync(JSON_SCHEMA_FILE, 'utf8'))).toEqual(JSON.parse(pipelineJsonSchemaText()));
  });

  it('accepts the built-in golf-courses pipeline and lists what it calls and which models', async () => {
    const { definition, spec } = await loadPipeline('golf-courses');
    expect(spec.name).toBe('golf-courses');
    expect(definition.steps.map((s) => s.id)).toEqual([
      'website',
      'domain',
      'course_data',
      'water_hazards',
      'course_intel',
      'emails',
      'people',
    ]);
    expect(definition.models).toEqual([
      'anthropic:claude-haiku-4-5',
      'anthropic:claude-sonnet-4-5',
      'perplexity:sonar',
    ]);
    const calls = (definition.forecast ?? []).map((f) => `${f.provider}/${f.operation}`);
    expect(calls).toEqual(
      expect.arrayContaining([
        'email-pattern/infer-email',
        'hunter/email-finder',
        'apollo/people-match',
        'llm/generate',
      ]),
    );
    expect(await resolvePipeline('golf-courses')).toMatchObject({ name: 'golf-courses' });
    await expect(resolvePipeline('no-such-pipeline')).rejects.toThrow(/Built-in pipelines: golf-courses/);
  });
});
