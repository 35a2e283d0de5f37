import { readFile, writeFile } from 'node:fs/promises';
import { isMap, isSeq, parseDocument, visit, type YAMLMap, type YAMLSeq } from 'yaml';
import { ConfigError } from '../../errors.ts';
import { parsePipeline } from '../../pipelines/load.ts';
import type { WaterfallRef } from './recorded-outcomes.ts';

/**
 * `sluice optimize --apply`: rewrites the step's provider list in the pipeline file. One order for
 * every record reorders the list (comments and anchors kept). Per-segment orders become one entry per
 * segment and provider, each with a `when` on the segment field (the waterfall skips an entry whose
 * `when` is false, so each record meets its own segment's order), then the whole-step order for any
 * other segment. The result is validated like any pipeline file before it is written.
 */
export interface OrderToApply {
  /** Provider indexes (of the step's current list), per segment; '' = every other record. */
  orders: Map<string, number[]>;
  /** The account field the segments are values of. */
  segmentBy?: string;
}

const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export async function applyOrder(file: string, ref: WaterfallRef, plan: OrderToApply): Promise<string> {
  const text = await readFile(file, 'utf8');
  const doc = parseDocument(text);
  const step = doc.getIn(ref.path) as YAMLMap | undefined;
  const list = step && isMap(step) ? (step.get('providers', true) as YAMLSeq | undefined) : undefined;
  if (!list || !isSeq(list)) throw new ConfigError(`${file}: cannot find the providers of step ${ref.key}`);
  // Reordering can put an alias before its anchor (`input: *person`): inline what aliases point to.
  visit(list, {
    Alias(_key, alias) {
      const target = alias.resolve(doc);
      return target ? doc.createNode(target.toJSON()) : undefined;
    },
  });
  const items = [...list.items];
  const fallback = plan.orders.get('') ?? [...items.keys()];
  const segments = [...plan.orders].filter(([k]) => k !== '');
  const distinct = new Set(segments.map(([, o]) => o.join())).add(fallback.join());
  if (distinct.size === 1 || !plan.segmentBy) {
    list.items = fallback.map((j) => items[j]!);
  } else {
    const field = `account.${plan.segmentBy}`;
    const entry = (j: number, condition: string) => {
      const node = doc.createNode(JSON.parse(JSON.stringify((items[j] as YAMLMap).toJSON()))) as YAMLMap;
      const own = node.get('when');
      node.set('when', own ? `(${String(own)}) and (${condition})` : condition);
      return node;
    };
    const out: unknown[] = [];
    for (const [segment, order] of segments)
      for (const j of order) out.push(entry(j, `${field} == ${quote(segment)}`));
    const others = `not (${field} in [${segments.map(([s]) => quote(s)).join(', ')}])`;
    for (const j of fallback) out.push(entry(j, others));
    list.items = out as typeof list.items;
  }
  const updated = doc.toString();
  parsePipeline(updated, file); // throws PipelineFileError naming file:line when the result is invalid
  await writeFile(file, updated);
  return updated;
}
