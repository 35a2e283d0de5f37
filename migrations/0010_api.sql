-- The HTTP API (`sluice serve`): API keys, idempotency keys, jobs. Immutable once landed.

-- An API key: only its SHA-256 is stored; the key itself is shown once by `sluice keys create`.
CREATE TABLE api_keys (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  -- the key's first characters (`sk_AbCd…`), to recognise it in lists
  prefix text NOT NULL,
  hash text NOT NULL UNIQUE,
  scopes text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write', 'admin']::text[] AND cardinality(scopes) > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

-- Idempotency-Key of a POST: the first response is replayed for 24 h; status null = still in flight.
CREATE TABLE idempotency_keys (
  api_key_id bigint NOT NULL,
  key text NOT NULL,
  path text NOT NULL,
  request_hash text NOT NULL,
  status integer,
  response_headers jsonb,
  response_body text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (api_key_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- A job: one asynchronous request (POST /v1/jobs, POST /api/enrich-course, a trigger rule): a batch of
-- runs, and what to report (result, webhook event) when it is over.
CREATE TABLE jobs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind text NOT NULL CHECK (kind IN ('pipeline', 'enrich-course', 'rule')),
  state text NOT NULL DEFAULT 'processing' CHECK (state IN ('processing', 'completed', 'failed')),
  pipeline text NOT NULL,
  batch_id bigint REFERENCES batches (id) ON DELETE SET NULL,
  -- the request as received (inputs echoed in the result, e.g. course_id)
  request jsonb NOT NULL DEFAULT '{}'::jsonb,
  result jsonb,
  error text,
  -- the webhook endpoint told when the job ends (callback_url, a rule's notify)
  endpoint_id bigint,
  -- the trigger rule that started it
  rule text,
  api_key_id bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX jobs_processing_idx ON jobs (created_at) WHERE state = 'processing';
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id);

-- Values the API and webhooks record are provenance too: `api` (POST /v1/accounts…), `rb2b` (visitor
-- webhooks), `webhook` (other inbound hooks). Ranked like imports by the current-value rule.
ALTER TABLE field_values DROP CONSTRAINT field_values_source_check;
ALTER TABLE field_values ADD CONSTRAINT field_values_source_check
  CHECK (source IN ('import', 'provider', 'step', 'manual', 'crm', 'api', 'rb2b', 'webhook'));

-- Processes working the queue (`sluice serve`, `sluice worker`), for /health: each refreshes seen_at.
CREATE TABLE worker_presence (
  id text PRIMARY KEY,
  kind text NOT NULL,
  host text NOT NULL,
  pid integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  seen_at timestamptz NOT NULL DEFAULT now()
);
