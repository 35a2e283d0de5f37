-- Batch figures (docs/architecture.md "Batch figures"): what a batch did, aggregated once when it ends
-- (engine/batch-figures.ts, called by settleBatch; batches that ended before this migration, or whose
-- figures went stale, are computed the first time a reader asks). `sluice retro`, `sluice patterns show`
-- and the dashboard read these instead of scanning every run, memoized step and ledger row again.
-- Immutable once landed: change the schema with a new numbered file.

-- One row per ended batch. `batch_finished_at` is the batch's finished_at when the figures were computed:
-- a batch reopened (dead-letter replay, resume) and ended again has a new one, so its figures are stale.
CREATE TABLE batch_figures (
  batch_id bigint PRIMARY KEY REFERENCES batches (id) ON DELETE CASCADE,
  batch_finished_at timestamptz NOT NULL,
  computed_at timestamptz NOT NULL DEFAULT now(),
  -- distinct accounts the runs worked on
  records integer NOT NULL,
  runs_total integer NOT NULL,
  runs_enriched integer NOT NULL,
  runs_partial integer NOT NULL,
  runs_failed integer NOT NULL,
  runs_open integer NOT NULL,
  -- calls the partial runs could not make
  partial_failed_calls integer NOT NULL,
  -- failed runs by error class: {"critical": 3}
  failed_by_class jsonb NOT NULL,
  -- finished runs that made a request, and the median / 90th percentile of their seconds
  speed_n integer NOT NULL,
  speed_p50_s double precision,
  speed_p90_s double precision,
  first_run_at timestamptz,
  last_run_at timestamptz,
  wall_s double precision NOT NULL,
  -- field values written by the runs (provider and step sources), the accounts and contacts they went to
  "values" integer NOT NULL,
  accounts_with_values integer NOT NULL,
  contacts_with_values integer NOT NULL,
  -- the same values by field: {"email": 2}
  values_by_field jsonb NOT NULL
);

-- Memoized steps by step (a foreach child as `emails.email`).
CREATE TABLE batch_step_figures (
  batch_id bigint NOT NULL REFERENCES batch_figures (batch_id) ON DELETE CASCADE,
  step text NOT NULL,
  first_completed_at timestamptz NOT NULL,
  instances integer NOT NULL,
  found integer NOT NULL,
  not_found integer NOT NULL,
  skipped integer NOT NULL,
  cost_usd numeric(14, 6) NOT NULL,
  PRIMARY KEY (batch_id, step)
);

-- A waterfall's attempts by step, position and provider.
CREATE TABLE batch_position_figures (
  batch_id bigint NOT NULL REFERENCES batch_figures (batch_id) ON DELETE CASCADE,
  step text NOT NULL,
  position integer NOT NULL,
  provider text NOT NULL,
  operation text NOT NULL,
  tried integer NOT NULL,
  wins integer NOT NULL,
  rejected integer NOT NULL,
  not_found integer NOT NULL,
  errors integer NOT NULL,
  skipped integer NOT NULL,
  PRIMARY KEY (batch_id, step, position, provider, operation)
);

-- Ledger rows by provider and operation (ledger/ledger-figures.ts). `latency_ms` counts the requests
-- by latency ({"120": 3}) so medians over several batches stay exact.
CREATE TABLE batch_provider_figures (
  batch_id bigint NOT NULL REFERENCES batch_figures (batch_id) ON DELETE CASCADE,
  provider text NOT NULL,
  operation text NOT NULL,
  calls integer NOT NULL,
  requests integer NOT NULL,
  found integer NOT NULL,
  not_found integer NOT NULL,
  errors integer NOT NULL,
  cache_hits integer NOT NULL,
  cost_usd numeric(14, 6) NOT NULL,
  latency_ms jsonb NOT NULL,
  PRIMARY KEY (batch_id, provider, operation)
);

-- Ledger attempts that ended in an error or were refused, by provider, operation, status and class.
CREATE TABLE batch_call_failure_figures (
  batch_id bigint NOT NULL REFERENCES batch_figures (batch_id) ON DELETE CASCADE,
  provider text NOT NULL,
  operation text NOT NULL,
  status text NOT NULL,
  error_class text NOT NULL,
  calls integer NOT NULL,
  PRIMARY KEY (batch_id, provider, operation, status, error_class)
);
