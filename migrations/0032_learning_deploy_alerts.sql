-- Compound learning, part two (docs/learning.md): deployments written by `sluice patterns deploy` pick
-- up the batches that run their pipeline file, and alert rules on timing signals.
-- Immutable once landed: change the schema with a new numbered file.

-- A deployment made by the template deployer: batches whose pipeline is the file it wrote, queued after
-- it, become its batches when learning refreshes (the demo's and hand-made deployments attach explicitly).
ALTER TABLE deployments ADD COLUMN attach_runs boolean NOT NULL DEFAULT false;

-- A rule: when a timing signal of `signal` appears (matching `match`, account fields = values), notify
-- the endpoint (a Slack incoming webhook) through the outbound webhook outbox. `cursor` is the position
-- reached in the signal's source, so each signal notifies once per rule.
CREATE TABLE alert_rules (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]*$'),
  signal text NOT NULL CHECK (signal IN ('job_change', 'visitor', 'reply')),
  -- {field: value}: every account field must equal its value (case-insensitive); {} = every signal
  match jsonb NOT NULL DEFAULT '{}'::jsonb,
  channel text NOT NULL CHECK (channel IN ('slack')),
  endpoint_id bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  cursor bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One notification per rule and signal (the signal's source row): a second check never sends it again.
CREATE TABLE alert_notifications (
  rule_id bigint NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
  signal_key text NOT NULL,
  delivery_id bigint REFERENCES webhook_deliveries (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rule_id, signal_key)
);
