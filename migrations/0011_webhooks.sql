-- Webhooks: outbound endpoints, deliveries (the outbox) and their attempts; inbound hook events.
-- Immutable once landed.

-- Where Sluice sends events, each with its own Standard Webhooks signing secret (whsec_…).
CREATE TABLE webhook_endpoints (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  url text NOT NULL UNIQUE,
  -- the signing secret must be readable to sign; it is printed once and never listed
  secret text NOT NULL,
  description text,
  disabled_at timestamptz,
  disabled_reason text,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One event for one endpoint. Written in the transaction of the event it reports; the row is the
-- queue job: claimed with SKIP LOCKED and a lease (locked_until), so a killed sender loses nothing.
CREATE TABLE webhook_deliveries (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- `webhook-id`: the same across retries and replays, receivers dedupe on it
  message_id text NOT NULL UNIQUE,
  endpoint_id bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  event_type text NOT NULL,
  -- the exact bytes signed and sent
  payload text NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  locked_until timestamptz,
  last_status integer,
  last_error text,
  job_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at DESC, id);

CREATE TABLE webhook_attempts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  duration_ms integer NOT NULL,
  -- HTTP status, null when no answer came (refused, timeout, blocked address)
  status integer,
  outcome text NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'gone')),
  error text,
  -- the first 500 characters of the answer
  response text
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);

-- A raw inbound webhook event, stored before it is processed; (source, event_id) dedupes retries.
CREATE TABLE hook_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source text NOT NULL,
  event_id text NOT NULL,
  body text NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'processed', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  locked_until timestamptz,
  error text,
  result jsonb,
  received_at timestamptz NOT NULL DEFAULT now(),
  processed_at timestamptz,
  UNIQUE (source, event_id)
);
CREATE INDEX hook_events_due_idx ON hook_events (next_attempt_at) WHERE state = 'pending';
