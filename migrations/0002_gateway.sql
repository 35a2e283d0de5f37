-- The call gateway's shared state: cache, in-flight markers, ledger, budgets, rate limiters,
-- concurrency slots and per-provider health. Everything several worker processes must agree on
-- lives here, so the same guarantees hold on PGlite and on N workers against one server.
-- Immutable once landed: change the schema with a new numbered file.

-- One cached provider answer per (provider, operation, normalized input).
CREATE TABLE cache_entries (
  -- sha256 of provider, operation and the normalized input (src/cache/cache-key.ts)
  key text PRIMARY KEY,
  provider text NOT NULL,
  operation text NOT NULL,
  -- the normalized input the key was made of, for inspection
  input jsonb NOT NULL,
  -- false = the provider answered "nothing found" (negative cache, shorter TTL)
  found boolean NOT NULL,
  output jsonb,
  -- what the original call cost: a hit saves this much
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  confidence real,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  -- LRU: entries least recently hit are evicted first when the cache is over its size cap
  last_hit_at timestamptz NOT NULL DEFAULT now(),
  hits integer NOT NULL DEFAULT 0
);
CREATE INDEX cache_entries_lru_idx ON cache_entries (last_hit_at);
CREATE INDEX cache_entries_scope_idx ON cache_entries (provider, operation, created_at);

-- "Someone is making this call right now": identical calls wait for its cache entry instead of
-- paying again. A crashed owner's marker expires and the next caller takes over.
CREATE TABLE cache_inflight (
  key text PRIMARY KEY,
  owner text NOT NULL,
  expires_at timestamptz NOT NULL
);

-- Every attempt of every call, hits and coalesced calls included.
CREATE TABLE ledger (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  provider text NOT NULL,
  operation text NOT NULL,
  run_id bigint,
  batch_id bigint,
  -- HTTP attempt number (1..maxAttempts); 0 when no request was made (hit, coalesced, refused)
  attempt integer NOT NULL,
  cache text NOT NULL CHECK (cache IN ('hit', 'miss', 'refresh', 'coalesced')),
  status text NOT NULL CHECK (status IN ('found', 'not_found', 'error', 'refused')),
  http_status integer,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  -- cache hits and coalesced calls: what the original call cost
  saved_usd numeric(14, 6) NOT NULL DEFAULT 0,
  latency_ms integer NOT NULL DEFAULT 0,
  error_class text,
  error text,
  cache_key text
);
CREATE INDEX ledger_run_idx ON ledger (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX ledger_batch_idx ON ledger (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX ledger_provider_idx ON ledger (provider, created_at);

-- Spending limits: `batch:<id>` (sluice run --budget) and `provider:<id>:<YYYY-MM-DD>` (daily caps).
-- A call reserves its price before it is made and settles with its real cost after.
CREATE TABLE budgets (
  scope text PRIMARY KEY,
  limit_usd numeric(14, 6) NOT NULL CHECK (limit_usd >= 0),
  spent_usd numeric(14, 6) NOT NULL DEFAULT 0,
  reserved_usd numeric(14, 6) NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- GCRA state, one row per limit window: the theoretical arrival time of the next call, in epoch ms
-- of the database clock (the one clock every worker shares).
CREATE TABLE rate_limits (
  key text PRIMARY KEY,
  tat_ms double precision NOT NULL DEFAULT 0
);

-- Concurrency cap per provider: one row per slot; a held slot has an owner and an expiry so a killed
-- process cannot leak it.
CREATE TABLE concurrency_slots (
  provider text NOT NULL,
  slot integer NOT NULL,
  owner text,
  expires_at timestamptz,
  PRIMARY KEY (provider, slot)
);

-- Provider health: circuit breaker, throttle pause, exhausted quota.
CREATE TABLE provider_state (
  provider text PRIMARY KEY,
  -- consecutive failed attempts (5xx, network, timeouts); reset by any success
  failures integer NOT NULL DEFAULT 0,
  -- circuit open until then; once past, one caller probes (half-open)
  open_until timestamptz,
  -- the provider said "slow down": nobody calls it before then
  paused_until timestamptz,
  -- credits or plan quota used up (e.g. Hunter 429): calls fail fast until then
  exhausted_until timestamptz,
  last_error text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
