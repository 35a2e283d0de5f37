import { z } from 'zod';

/**
 * The pipeline file format (YAML). `schemas/pipeline.schema.json` is generated from this
 * (`npx tsx src/pipelines/json-schema.ts --write`) so editors can autocomplete pipeline files.
 *
 * Strings marked "expression" use the language in expression.ts (`is_empty(account.website)`);
 * strings marked "template" may contain `{{ expression }}`; "path" is a JSON path into an output
 * (json-path.ts). Field names may be prefixed `account.` or `contact.`; unprefixed names belong to the
 * contact inside `foreach` and to the account elsewhere.
 */
const id = z
  .string()
  .regex(/^[a-z][a-z0-9_-]*$/, 'must be lowercase letters, digits, "_" or "-", starting with a letter');
const fieldName = z
  .string()
  .regex(/^((account|contact)\.)?[a-z][a-z0-9_]*$/, 'must be a snake_case field name, optionally prefixed');
const expression = z.string().min(1).describe('expression, e.g. is_empty(account.website)');
const template = z.string().describe('template: text with {{ expression }} placeholders');
const path = z.string().describe('JSON path into the output, e.g. data.email or emails[0].value');

const outputMapping = z
  .record(
    fieldName,
    z.union([
      path,
      z
        .object({
          path,
          /** 0..1, or an expression over `output` (e.g. `output.score / 100`). */
          confidence: z.union([z.number().min(0).max(1), expression]).optional(),
        })
        .strict(),
    ]),
  )
  .describe('field name -> JSON path into the output');

const templateTree: z.ZodType<unknown> = z.lazy(() =>
  z.union([
    template,
    z.number(),
    z.boolean(),
    z.null(),
    z.array(templateTree),
    z.record(z.string(), templateTree),
  ]),
);

/** One provider call: provider + operation + input built from record fields. */
const call = z
  .object({
    provider: z.string().min(1).describe('provider id, e.g. hunter (see `sluice providers list`)'),
    operation: z.string().min(1).describe('operation of the provider, e.g. email-finder'),
    input: z.record(z.string(), templateTree).default({}).describe('operation input; values are templates'),
    optional_inputs: z
      .array(z.string())
      .optional()
      .describe('input keys that may be empty; any other empty input skips this call'),
  })
  .strict();

const base = {
  id,
  description: z.string().optional(),
  when: expression.optional().describe('only run when this expression is true'),
  required: z.boolean().optional().describe('a required step that fails makes the run fail. Default false'),
};

const waterfallProvider = call
  .extend({
    output: outputMapping,
    when: expression.optional(),
    confidence: z.union([z.number().min(0).max(1), expression]).optional(),
    verified_when: expression
      .optional()
      .describe(
        "skip the validator when true: the provider already verified it (over `output`), e.g. output.verification_status == 'valid'",
      ),
  })
  .strict();

const waterfall = z
  .object({
    ...base,
    kind: z.literal('waterfall'),
    fields: z.array(fieldName).min(1).describe('the fields this waterfall fills'),
    providers: z.array(waterfallProvider).min(1).describe('tried in order until every field is filled'),
    validate: call
      .extend({
        field: fieldName.optional().describe('the field validated. Default: the first of `fields`'),
        accept: expression.describe('true when the candidate is valid, over `output` and `value`'),
      })
      .strict()
      .optional()
      .describe('a validator whose rejection falls through to the next provider'),
    overwrite: z.boolean().optional().describe('also run when the fields already have values. Default false'),
  })
  .strict();

const contactsMapping = z
  .object({
    from: path.describe('JSON path to the list of people in the output'),
    fields: z.record(fieldName, path).describe('contact field -> path inside one list item'),
  })
  .strict();

const ai = z
  .object({
    ...base,
    kind: z.literal('ai'),
    model: z
      .string()
      .regex(/^(anthropic|openai|perplexity):[\w.:-]+$/, 'must look like anthropic:claude-haiku-4-5')
      .describe('provider:model, e.g. anthropic:claude-haiku-4-5, openai:gpt-4o-mini, perplexity:sonar'),
    context: z
      .record(
        id,
        call
          .extend({
            path: path.optional(),
            optional: z
              .boolean()
              .optional()
              .describe('prompt anyway when this call finds nothing. Default false: the step is skipped'),
          })
          .strict(),
      )
      .optional()
      .describe('calls made first (e.g. read a web page); their output is `context.<name>` in the prompt'),
    system: template.optional(),
    prompt: template,
    schema: z.record(z.string(), z.unknown()).describe('JSON Schema the answer must match'),
    output: outputMapping.optional(),
    contacts: contactsMapping.optional().describe('people in the answer become new contacts'),
    confidence: z.union([z.number().min(0).max(1), expression]).optional(),
    max_tokens: z.number().int().positive().optional(),
    temperature: z.number().min(0).max(2).optional(),
  })
  .strict();

const http = z
  .object({
    ...base,
    kind: z.literal('http'),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
    url: template,
    headers: z.record(z.string(), template).optional(),
    body: templateTree.optional(),
    output: outputMapping.optional(),
    contacts: contactsMapping.optional(),
    // Removed: a pipeline file cannot open the door to internal addresses (docs/security.md).
    allow_private: z
      .undefined({
        error:
          'allow_private is not supported: requests to private, loopback and metadata addresses are always refused (docs/security.md). Remove the line',
      })
      .optional(),
    timeout_ms: z.number().int().positive().optional(),
  })
  .strict();

const formula = z
  .object({
    ...base,
    kind: z.literal('formula'),
    fields: z.record(fieldName, expression).describe('field name -> expression'),
  })
  .strict();

/** Child steps per contact of the account, run concurrently. */
export interface ForeachSpec {
  id: string;
  description?: string | undefined;
  when?: string | undefined;
  required?: boolean | undefined;
  kind: 'foreach';
  where?: string | undefined;
  concurrency?: number | undefined;
  forecast_contacts?: number | undefined;
  steps: StepSpec[];
}

export type StepSpec = WaterfallSpec | AiSpec | HttpSpec | FormulaSpec | ForeachSpec;

const foreach = z
  .object({
    ...base,
    kind: z.literal('foreach'),
    where: expression.optional().describe('only contacts for which this is true'),
    concurrency: z.number().int().min(1).max(64).optional().describe('contacts at once. Default 4'),
    forecast_contacts: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('contacts per account assumed by forecasts. Default 3'),
    steps: z.array(z.lazy((): z.ZodType<StepSpec> => step)).min(1),
  })
  .strict();

export const step = z.discriminatedUnion('kind', [waterfall, ai, http, formula, foreach]);

const attributeName = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/, 'must be a snake_case field name such as course_type');

export const pipelineSchema = z
  .object({
    $schema: z.string().optional(),
    name: id,
    description: z.string().optional(),
    attributes: z
      .object({
        account: z.array(attributeName).optional(),
        contact: z.array(attributeName).optional(),
      })
      .strict()
      .optional()
      .describe(
        'attributes the pipeline reads that no step writes (e.g. columns an import kept as attributes); any other unknown field is an error',
      ),
    steps: z.array(step).min(1),
  })
  .strict();

export type PipelineSpec = z.infer<typeof pipelineSchema>;
export type WaterfallSpec = z.infer<typeof waterfall>;
export type AiSpec = z.infer<typeof ai>;
export type HttpSpec = z.infer<typeof http>;
export type FormulaSpec = z.infer<typeof formula>;
export type CallSpec = z.infer<typeof call>;
export type OutputMappingSpec = z.infer<typeof outputMapping>;
export type ContactsMappingSpec = z.infer<typeof contactsMapping>;
