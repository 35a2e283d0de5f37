import { existsSync, readFileSync, statSync } from 'node:fs';
import { relative } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import { parseWhere } from '../engine/selection.ts';
import { ConfigError } from '../errors.ts';
import { MAX_ALIAS_COUNT, MAX_PIPELINE_BYTES } from '../pipelines/load.ts';
import { callbackUrlProblem } from '../webhooks/send-webhook.ts';

/**
 * `sluice.config.yaml`: the trigger rules `sluice serve` applies to every account or contact created
 * (by an import, the API, a webhook, or an INSERT by SQL). Validated once at start; every problem is
 * reported as `file:line:col: field: message`, like pipeline files.
 *
 * ```yaml
 * rules:
 *   - name: enrich-new-courses
 *     on: account.created
 *     where: status = pending_enrichment   # optional, the --where grammar of sluice run
 *     pipeline: golf-courses
 *     notify: https://example.com/hooks/sluice   # optional: a webhook when the job ends
 *     budget_usd: 2                              # optional, per job
 *   - name: contacted-starts-outreach
 *     on: contact.stage_changed                  # a CRM status came back (ClickUp task moved)
 *     where: stage = Contacted
 *     sequence: golf-contacted                   # starts an outreach sequence instead of a pipeline
 * ```
 */
export const DEFAULT_CONFIG_FILE = 'sluice.config.yaml';

const ruleSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'a rule name is lowercase letters, digits, - and _'),
    on: z.enum(['account.created', 'contact.created', 'contact.stage_changed']),
    where: z.string().min(1).optional(),
    pipeline: z.string().min(1).optional(),
    /** An outreach sequence (docs/outreach.md) to start for the matched contacts. */
    sequence: z.string().min(1).optional(),
    notify: z.string().optional(),
    budget_usd: z.number().positive().optional(),
  })
  .strict()
  .refine((r) => (r.pipeline === undefined) !== (r.sequence === undefined), {
    message: 'a rule runs either a pipeline or a sequence: give exactly one of them',
  })
  .refine((r) => r.sequence === undefined || r.on !== 'account.created', {
    message: 'a sequence starts for contacts: use on: contact.created or contact.stage_changed',
    path: ['sequence'],
  });

const configSchema = z.object({ rules: z.array(ruleSchema).default([]) }).strict();

export type TriggerRule = z.infer<typeof ruleSchema>;
export interface TriggerConfig {
  file: string | undefined;
  rules: TriggerRule[];
}

export class TriggerConfigError extends ConfigError {}

/** Reads and validates the config; a missing default file means no rules, a missing named file is an error. */
export function loadTriggerConfig(file: string | undefined): TriggerConfig {
  const path = file ?? DEFAULT_CONFIG_FILE;
  if (!existsSync(path)) {
    if (file) throw new TriggerConfigError(`${file}: no such config file`, { exitCode: 2 });
    return { file: undefined, rules: [] };
  }
  const size = statSync(path).size;
  if (size > MAX_PIPELINE_BYTES)
    throw new TriggerConfigError(
      `${path} is ${(size / 1024 / 1024).toFixed(1)} MB; config files over ${MAX_PIPELINE_BYTES / 1024 / 1024} MB are refused unread (is it the right file?)`,
      { exitCode: 2 },
    );
  return parseTriggerConfig(readFileSync(path, 'utf8'), relative(process.cwd(), path) || path);
}

export function parseTriggerConfig(text: string, file: string): TriggerConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number) => {
    const p = lines.linePos(offset);
    return `${file}:${p.line}:${p.col}`;
  };
  if (doc.errors.length > 0)
    throw new TriggerConfigError(
      `config file is invalid:\n  ${doc.errors.map((e) => `${where(e.pos[0])}: ${e.message.split('\n')[0]}`).join('\n  ')}`,
      { exitCode: 2 },
    );
  const problems: string[] = [];
  const report = (path: PropertyKey[], message: string) => {
    const node = nodeAt(doc.contents, path);
    const field = path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '');
    problems.push(`${where(node?.range?.[0] ?? 0)}: ${field ? `${field}: ` : ''}${message}`);
  };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml: "Excessive alias count indicates a resource exhaustion attack" (a "billion laughs" file)
    throw new TriggerConfigError(
      `${file}: refused: ${(err as Error).message} (more than ${MAX_ALIAS_COUNT} alias expansions); write the values out instead of nesting aliases`,
      { exitCode: 2 },
    );
  }
  const parsed = configSchema.safeParse(data ?? {});
  if (!parsed.success) for (const i of parsed.error.issues) report(i.path, i.message);
  const rules = parsed.success ? parsed.data.rules : [];
  const names = new Set<string>();
  rules.forEach((r, i) => {
    if (names.has(r.name)) report(['rules', i, 'name'], `another rule is already named "${r.name}"`);
    names.add(r.name);
    if (r.where) {
      try {
        parseWhere(r.where);
      } catch (err) {
        report(['rules', i, 'where'], (err as Error).message.replace(/^--where: /, ''));
      }
    }
    const bad = r.notify ? callbackUrlProblem(r.notify) : undefined;
    if (bad) report(['rules', i, 'notify'], bad);
  });
  if (problems.length > 0)
    throw new TriggerConfigError(
      `config file has ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}:\n  ${problems.join('\n  ')}`,
      { exitCode: 2 },
    );
  return { file, rules };
}

function nodeAt(root: unknown, path: readonly PropertyKey[]): Node | undefined {
  let node = root as Node | undefined;
  let last = node;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
      node = (pair?.value ?? pair?.key) as Node | undefined;
    } else if (isSeq(node) && typeof key === 'number') node = node.items[key] as Node | undefined;
    else node = undefined;
    if (!node) return last;
    last = node;
  }
  return node;
}
