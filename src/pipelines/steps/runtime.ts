import type { CallOutcome } from '../../engine/gateway-types.ts';
import type { ContactView, FieldWrite, StepContext, StepOutput } from '../../engine/pipeline-types.ts';
import { type Expr, evaluate, fieldRefs, truthy } from '../expression.ts';

/**
 * What compiled steps share: the scope a step sees (the account, the contact inside `foreach`),
 * where a field name points, and how a value becomes a FieldWrite with provenance.
 */
export interface Scope {
  account: Record<string, unknown>;
  contacts: ContactView[];
  /** Set inside `foreach`. */
  contact?: ContactView;
}

export interface Forecast {
  provider: string;
  operation: string;
  callsPerRecord: number;
  /** Set by per-record forecasts: the call depends on a value an earlier step writes. */
  undecided?: boolean;
}

/**
 * Decides an expression from stored values: true/false when every field it reads is an account field
 * no earlier step writes, else undefined (it depends on what the run writes first).
 */
export function decide(expr: Expr, scope: Scope, written: ReadonlySet<string>): boolean | undefined {
  for (const r of fieldRefs(expr)) {
    if (r.root !== 'account' || r.field === undefined || written.has(r.field)) return undefined;
  }
  return truthy(evaluate(expr, scopeVars(scope)));
}

/** A step after compilation: runs against a scope (the account, or one contact inside `foreach`). */
export interface CompiledStep {
  id: string;
  required: boolean;
  run(ctx: StepContext, scope: Scope): Promise<StepOutput>;
  forecast(): Forecast[];
  /** The calls of one record given its stored values; default: forecast(). */
  forecastFor?(scope: Scope, written: ReadonlySet<string>): Forecast[];
}

/** Where a field of a pipeline file lands: `contact.email`, `account.segment`, or unprefixed. */
export interface FieldTarget {
  entity: 'account' | 'contact';
  field: string;
}

/** Names usable at the start of an expression, by place. */
export const ROOTS = {
  record: ['account', 'contact', 'contacts'],
  output: ['account', 'contact', 'contacts', 'output', 'value'],
  ai: ['account', 'contact', 'contacts', 'context'],
} as const;

export function isBlank(v: unknown): boolean {
  return (
    v === null ||
    v === undefined ||
    (typeof v === 'string' && v.trim() === '') ||
    (Array.isArray(v) && !v.length)
  );
}

export function scopeVars(scope: Scope, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { account: scope.account, contact: scope.contact ?? null, contacts: scope.contacts, ...extra };
}

export function currentValue(scope: Scope, target: FieldTarget): unknown {
  const entity = target.entity === 'account' ? scope.account : scope.contact;
  return entity?.[target.field];
}

export interface Provenance {
  source: 'provider' | 'step';
  provider?: string | undefined;
  operation?: string | undefined;
  costUsd: number;
  confidence?: number | undefined;
}

export function makeWrite(
  scope: Scope,
  target: FieldTarget,
  value: unknown,
  prov: Provenance,
  contactRef?: string,
): FieldWrite {
  const write: FieldWrite = {
    entity: target.entity,
    field: target.field,
    value,
    source: prov.source,
    costUsd: round6(prov.costUsd),
    observedAt: new Date().toISOString(),
  };
  if (target.entity === 'contact') {
    const ref = contactRef ?? scope.contact?.ref;
    if (!ref) throw new Error(`contact field ${target.field} written outside foreach`);
    write.contactRef = ref;
  }
  if (prov.provider) write.provider = prov.provider;
  if (prov.operation) write.operation = prov.operation;
  if (prov.confidence !== undefined) write.confidence = clamp01(prov.confidence);
  return write;
}

export function providerProvenance(outcome: CallOutcome, costUsd: number, confidence?: number): Provenance {
  return {
    source: 'provider',
    provider: outcome.provider,
    operation: outcome.operation,
    costUsd,
    confidence: confidence ?? outcome.confidence,
  };
}

/** Applies writes to a scope so the next child step sees them (the run engine does this between top-level steps). */
export function applyWrites(scope: Scope, writes: readonly FieldWrite[]): Scope {
  const account = { ...scope.account };
  const contact = scope.contact ? { ...scope.contact } : undefined;
  for (const w of writes) {
    if (w.entity === 'account') account[w.field] = w.value;
    else if (contact && w.contactRef === contact.ref) contact[w.field] = w.value;
  }
  return contact ? { ...scope, account, contact } : { ...scope, account };
}

/** A confidence given as a number, or an expression over the scope (e.g. `output.score / 100`). */
export type ConfidenceSpec = number | Expr | undefined;

export function resolveConfidence(spec: ConfidenceSpec, vars: Record<string, unknown>): number | undefined {
  if (spec === undefined) return undefined;
  if (typeof spec === 'number') return spec;
  const v = Number(evaluate(spec, vars));
  return Number.isFinite(v) ? clamp01(v) : undefined;
}

export function clamp01(n: number): number {
  return Math.min(1, Math.max(0, n));
}

export function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/** Adds up forecasts of several steps or calls by provider/operation. */
export function mergeForecasts(lists: Forecast[][], times = 1): Forecast[] {
  const byKey = new Map<string, Forecast>();
  for (const f of lists.flat()) {
    const key = `${f.provider}/${f.operation}`;
    const cur = byKey.get(key);
    if (cur) {
      cur.callsPerRecord += f.callsPerRecord * times;
      if (f.undecided) cur.undecided = true;
    } else byKey.set(key, { ...f, callsPerRecord: f.callsPerRecord * times });
  }
  return [...byKey.values()];
}

export const SKIPPED = (reason: string): StepOutput => ({ status: 'skipped', writes: [], data: { reason } });
