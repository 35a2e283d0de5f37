import type { Queryable } from '../../db/db.ts';
import { type RecordedAttempt, waterfallAttempts } from '../../engine/waterfall-attempts.ts';
import { ConfigError } from '../../errors.ts';
import { measuredPrices } from '../../ledger/ledger-figures.ts';
import type { PipelineSpec, WaterfallSpec } from '../../pipelines/schema.ts';
import { providers as registered } from '../../providers/registry.ts';
import type { Attempt } from './cascade-learner.ts';

/**
 * A waterfall step's recorded traffic, read back from its memoized attempts (the engine's port
 * engine/waterfall-attempts.ts; prices from the ledger's, ledger/ledger-figures.ts): per record
 * instance, which providers were tried in which order and what each answered. Attempts are priced at
 * list prices, not realised cost (a cache hit looks free but the next record pays): the mean cost of
 * the ledger's real requests of that operation when found and when not found (pay-on-hit pricing shows
 * as a zero miss price), else the provider definition's declared price.
 */
export interface WaterfallRef {
  /** `email` or `emails.email` for a foreach child; the step id at the top level. */
  key: string;
  /** run_steps key part: the top-level id, or `foreach.child`. */
  memoKey: string;
  child: boolean;
  spec: WaterfallSpec;
  /** Path of the step inside the pipeline spec: ['steps', 5, 'steps', 0]. */
  path: (string | number)[];
}

export function findWaterfall(spec: PipelineSpec, step: string): WaterfallRef {
  const found: WaterfallRef[] = [];
  spec.steps.forEach((s, i) => {
    if (s.kind === 'waterfall' && s.id === step)
      found.push({ key: s.id, memoKey: s.id, child: false, spec: s, path: ['steps', i] });
    if (s.kind === 'foreach')
      s.steps.forEach((c, k) => {
        if (c.kind === 'waterfall' && (c.id === step || `${s.id}.${c.id}` === step))
          found.push({
            key: `${s.id}.${c.id}`,
            memoKey: `${s.id}.${c.id}`,
            child: true,
            spec: c,
            path: ['steps', i, 'steps', k],
          });
      });
  });
  const names = spec.steps.flatMap((s) =>
    s.kind === 'waterfall'
      ? [s.id]
      : s.kind === 'foreach'
        ? s.steps.filter((c) => c.kind === 'waterfall').map((c) => `${s.id}.${c.id}`)
        : [],
  );
  if (found.length !== 1)
    throw new ConfigError(
      `${found.length ? 'ambiguous' : 'no'} waterfall step "${step}" in pipeline ${spec.name} (its waterfalls: ${names.join(', ') || 'none'})`,
      { exitCode: 2 },
    );
  return found[0]!;
}

export interface Price {
  provider: string;
  operation: string;
  hitUsd: number;
  missUsd: number;
  /** Real requests the price was measured from (0: the declared price). */
  n: number;
}

export async function listPrices(
  db: Queryable,
  pipeline: string,
  calls: { provider: string; operation: string }[],
): Promise<Price[]> {
  const measured = await measuredPrices(
    db,
    pipeline,
    calls.map((c) => c.provider),
  );
  return calls.map((c) => {
    const m = measured.find((x) => x.provider === c.provider && x.operation === c.operation);
    const declared = registered.find((p) => p.id === c.provider)?.operations[c.operation]?.priceUsd ?? 0;
    const hit = m?.hitUsd ?? declared;
    return {
      ...c,
      hitUsd: hit,
      missUsd: m?.missUsd ?? (m?.hitUsd !== undefined && m.hitUsd !== null ? 0 : declared),
      n: m?.n ?? 0,
    };
  });
}

export interface RecordedInstance {
  segment: string;
  attempts: Attempt[];
  rejected: number[];
}

type RawAttempt = RecordedAttempt;

/** The step's instances in the order they ran, each attempt priced and mapped to the step's provider index. */
export async function recordedInstances(
  db: Queryable,
  pipeline: string,
  ref: WaterfallRef,
  prices: Price[],
  validator: Price | undefined,
  segmentBy?: string,
): Promise<RecordedInstance[]> {
  const rows = await waterfallAttempts(db, pipeline, ref, segmentBy);
  const index = (a: RawAttempt) =>
    prices.findIndex((p) => p.provider === a.provider && p.operation === a.operation);
  const vCost = validator?.hitUsd ?? 0;
  const out: RecordedInstance[] = [];
  for (const row of rows) {
    const attempts: Attempt[] = [];
    const rejected: number[] = [];
    for (const a of row.attempts) {
      const j = index(a);
      if (j < 0) break; // a provider no longer in the step: what follows was conditioned on it
      const p = prices[j]!;
      const res = a.result ?? '';
      if (res.startsWith('skipped')) attempts.push({ j, accepted: false, cost: 0, skipped: true });
      else if (res === 'error') attempts.push({ j, accepted: false, cost: 0, error: true });
      else if (res === 'not_found') attempts.push({ j, accepted: false, cost: p.missUsd });
      else if (res === 'rejected') {
        attempts.push({ j, accepted: false, cost: p.hitUsd + vCost });
        rejected.push(j);
      } else if (res === 'hit') {
        // Older rows lack `validated`: then a step with a validator is assumed to have paid it.
        const validated = a.validated ?? validator !== undefined;
        attempts.push({ j, accepted: true, cost: p.hitUsd + (validated ? vCost : 0) });
      }
    }
    if (attempts.length) out.push({ segment: row.segment, attempts, rejected });
  }
  return out;
}
