-- Durable call attempts: never pay twice, never lose a paid answer (docs/gateway.md "Attempts").
-- Immutable once landed: change the schema with a new numbered file.

-- One row per paid call, written before its request (in the statement that claims the call) and
-- deleted by the statement that records how it ended. A row left `open` by an owner that died is
-- turned `unknown` by the reaper (src/ledger/reaper.ts): its price counts as spent, its reservation is
-- released, a ledger row `unknown` says so. The owner renews `lease_until` while the call runs (with
-- its in-flight markers), so "died" means "stopped renewing", never "took long".
CREATE TABLE call_attempts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- the gateway making the call: host:pid:random (src/gateway/create-gateway.ts)
  owner text NOT NULL,
  provider text NOT NULL,
  operation text NOT NULL,
  cache_key text NOT NULL,
  run_id bigint,
  batch_id bigint,
  -- ledger label of the call ('miss' or 'refresh') and its current HTTP attempt number
  cache text NOT NULL DEFAULT 'miss',
  attempt integer NOT NULL DEFAULT 1,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'unknown')),
  -- what the call may cost (counted as spent if its outcome is unknown)
  price_usd numeric(14, 6) NOT NULL DEFAULT 0,
  -- budget scopes the call reserved `reserved_usd` in (released when it ends or is reaped)
  budget_scopes text[] NOT NULL DEFAULT '{}',
  reserved_usd numeric(14, 6) NOT NULL DEFAULT 0,
  -- how long one renewal keeps the row alive, and until when the current one does
  lease_ms integer NOT NULL,
  lease_until timestamptz NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  -- set by the reaper: when it gave up on the owner, and the ledger row it wrote
  reaped_at timestamptz,
  ledger_id bigint
);
CREATE INDEX call_attempts_open_idx ON call_attempts (lease_until) WHERE status = 'open';
CREATE INDEX call_attempts_owner_idx ON call_attempts (owner) WHERE status = 'open';

-- The reaper's ledger row for a call whose outcome nobody knows.
ALTER TABLE ledger DROP CONSTRAINT ledger_status_check;
ALTER TABLE ledger ADD CONSTRAINT ledger_status_check
  CHECK (status IN ('found', 'not_found', 'error', 'refused', 'unknown'));
