import type { Gateway } from './gateway-types.ts';

/**
 * What the run engine executes. YAML pipelines (src/pipelines/) compile to this; tests define small
 * ones in code. A run = one record (an account and its contacts) through one pipeline.
 */

/** The record a run works on: current values, plus what earlier steps of this run produced. */
export interface RecordView {
  account: { id: number } & Record<string, unknown>;
  contacts: ContactView[];
}

export interface ContactView extends Record<string, unknown> {
  /** Database id, or undefined for a contact this run discovered and has not written yet. */
  id: number | undefined;
  /** Stable key within the run: `id:<n>` for stored contacts, else `new:<email or name>`. */
  ref: string;
}

/** One observed value a step wants written, with its provenance. */
export interface FieldWrite {
  entity: 'account' | 'contact';
  /** For contacts: the ContactView.ref the value belongs to. */
  contactRef?: string;
  field: string;
  value: unknown;
  source: 'provider' | 'step';
  provider?: string;
  operation?: string;
  costUsd: number;
  /** 0..1 */
  confidence?: number;
  observedAt: string;
}

export interface StepOutput {
  /**
   * found: wrote something; not_found: every provider asked answered "no data"; skipped: `when` false or
   * inputs missing; failed: some calls could not be made or answered (`data.errors` says why), so what
   * the step wrote (if anything) is incomplete. A failed step is not a result: the run ends partial and
   * a redrive runs exactly the failed steps again.
   */
  status: 'found' | 'not_found' | 'skipped' | 'failed';
  writes: FieldWrite[];
  /** Contacts discovered by this step (e.g. a staff list), created at the end of the run. */
  newContacts?: ContactView[];
  /** Free-form facts for later steps and for `sluice runs show` (never written to records). */
  data?: Record<string, unknown>;
}

export interface StepContext {
  run: { id: number; batchId: number | undefined; pipeline: string };
  /** The record with all writes of earlier steps applied. */
  record: RecordView;
  /** Every paid or external call goes through here (runId/batchId are filled in). */
  gateway: Gateway;
  /**
   * Memoizes a sub-step (e.g. a foreach child `<step>/<contactRef>`): a retried or resumed run returns the
   * stored output instead of running `fn` again.
   */
  memo(key: string, fn: () => Promise<StepOutput>): Promise<StepOutput>;
  signal: AbortSignal;
  /**
   * True on the run's last attempt for retryable errors: a call that still fails then fails its step
   * (field unfilled, reason recorded) instead of retrying the run. Default false.
   */
  finalAttempt?: boolean;
}

/** One failed call as recorded in a failed step's `data.errors` (and listed by `sluice dlq show`). */
export interface StepError {
  step: string;
  /** The contact ref inside `foreach`. */
  contact?: string;
  provider?: string;
  operation?: string;
  errorClass: string;
  message: string;
}

export interface StepDefinition {
  id: string;
  /** A required step that fails makes the run fail (critical) instead of partial. */
  required?: boolean;
  run(ctx: StepContext): Promise<StepOutput>;
}

export interface PipelineDefinition {
  name: string;
  description?: string;
  steps: StepDefinition[];
  /** Paid calls per record by provider/operation, for `sluice run --dry-run` (upper bound). */
  forecast?: { provider: string; operation: string; callsPerRecord: number }[];
  /**
   * The calls one record may take, decided from its stored values where possible (a `when` that is
   * false, fields already filled, an empty input); `undecided` marks calls that depend on values
   * earlier steps write (counted as made). Upper bounds like `forecast`, per record.
   */
  forecastRecord?: (account: Record<string, unknown>) => {
    provider: string;
    operation: string;
    callsPerRecord: number;
    undecided?: boolean;
  }[];
  /** `vendor:model` ids the pipeline's `ai` steps use, for the pre-run key check (checkCredentialsFor). */
  models?: string[];
}
