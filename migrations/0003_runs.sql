-- Runs: one record (an account and its contacts) through one pipeline, grouped in batches.
-- The queue itself (claiming, heartbeats, retries) lives in pg-boss's own schema; these tables are
-- Sluice's truth about what a run did. Immutable once landed: change the schema with a new file.

-- A batch = one `sluice run` invocation: the selection, the pipeline and the optional budget.
CREATE TABLE batches (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- pipeline name or file, as given to `sluice run --pipeline` (workers resolve it the same way)
  pipeline text NOT NULL,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'stopped')),
  -- why a batch stopped early, e.g. "budget of $5.00 reached"
  stop_reason text,
  budget_usd numeric(14, 6),
  refresh boolean NOT NULL DEFAULT false,
  -- the --where/--limit/--ids the batch was selected with, for `sluice runs` and reruns
  selection jsonb NOT NULL DEFAULT '{}'::jsonb,
  total integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

CREATE TABLE runs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  batch_id bigint REFERENCES batches (id) ON DELETE CASCADE,
  pipeline text NOT NULL,
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  -- queued → running → enriched | partial | failed; a deferred or released run goes back to queued
  state text NOT NULL DEFAULT 'queued'
    CHECK (state IN ('queued', 'running', 'enriched', 'partial', 'failed')),
  -- claims (every time a worker picked the run up) and failures counted toward the retry limit
  attempts integer NOT NULL DEFAULT 0,
  failures integer NOT NULL DEFAULT 0,
  -- the queue job currently carrying the run; only that job may finish it
  job_id text,
  error_class text,
  error text,
  -- the last attempts' errors [{at, class, message}], newest first, at most 10
  errors jsonb NOT NULL DEFAULT '[]'::jsonb,
  -- the dead-letter queue job created when the run failed
  dlq_job_id text,
  calls integer NOT NULL DEFAULT 0,
  cache_hits integer NOT NULL DEFAULT 0,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runs_batch_state_idx ON runs (batch_id, state);
CREATE INDEX runs_state_idx ON runs (state, updated_at);
CREATE INDEX runs_account_idx ON runs (account_id);

-- Memoized step outputs: a retried or resumed run returns these instead of running the step again.
-- step_key is the step id, or `<step>/<sub key>` for sub-steps (foreach children) memoized by the step.
CREATE TABLE run_steps (
  run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step_key text NOT NULL,
  status text NOT NULL CHECK (status IN ('found', 'not_found', 'skipped')),
  output jsonb NOT NULL,
  calls integer NOT NULL DEFAULT 0,
  cache_hits integer NOT NULL DEFAULT 0,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  completed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, step_key)
);
