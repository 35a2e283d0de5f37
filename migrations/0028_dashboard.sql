-- The dashboard (docs/ui.md): browser sessions, and the pre-aggregated ledger figures its pages read so
-- that no request scans the ledger. Immutable once landed: change the schema with a new numbered file.

-- A browser session opened with an API key on the login page. Only the token's SHA-256 is stored;
-- revoking the key ends its sessions (the join in src/ui/session.ts checks revoked_at).
CREATE TABLE ui_sessions (
  token_hash text PRIMARY KEY,
  api_key_id bigint NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX ui_sessions_expires_idx ON ui_sessions (expires_at);

-- The ledger folded by hour and by what the pages group on. Maintained by src/ui/queries/ledger-rollup.ts,
-- which folds the rows past `ledger_rollup_state.last_id` (the ledger is append-only) before a page
-- reads: the hot path (the gateway writing ledger rows) carries no trigger.
CREATE TABLE ledger_hourly (
  hour timestamptz NOT NULL,
  provider text NOT NULL,
  operation text NOT NULL,
  -- 0 = a call outside any batch
  batch_id bigint NOT NULL,
  cache text NOT NULL,
  status text NOT NULL,
  -- '' = no error
  error_class text NOT NULL,
  -- ledger rows (calls and attempts)
  rows integer NOT NULL DEFAULT 0,
  -- rows that made an HTTP request (attempt >= 1)
  requests integer NOT NULL DEFAULT 0,
  -- answers 429 or classed `throttled`
  throttles integer NOT NULL DEFAULT 0,
  cost_usd numeric(16, 6) NOT NULL DEFAULT 0,
  saved_usd numeric(16, 6) NOT NULL DEFAULT 0,
  latency_ms_sum bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (hour, provider, operation, batch_id, cache, status, error_class)
);
CREATE INDEX ledger_hourly_batch_idx ON ledger_hourly (batch_id);

CREATE TABLE ledger_rollup_state (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  last_id bigint NOT NULL DEFAULT 0
);
INSERT INTO ledger_rollup_state (id, last_id) VALUES (true, 0);

-- Throughput over time (runs finished per hour) reads a range of this index, not the runs table.
CREATE INDEX runs_finished_idx ON runs (finished_at) WHERE finished_at IS NOT NULL;
-- Inbound events newest first on the deliveries page.
CREATE INDEX hook_events_received_idx ON hook_events (received_at DESC, id);
