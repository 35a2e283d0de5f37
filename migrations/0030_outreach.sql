-- Outreach (docs/outreach.md): sequences started for contacts, the outbox of sends, email events
-- (deduplicated), the global suppression list, each contact's outreach state, and a record event when a
-- contact's stage changes (a ClickUp task moved to "Contacted" starts a sequence through the trigger
-- rules). Immutable once landed.

-- A sequence as run here: paused or not, and its Instantly campaign when it sends through Instantly.
CREATE TABLE outreach_sequences (
  name text PRIMARY KEY,
  channel text NOT NULL CHECK (channel IN ('sendgrid', 'instantly')),
  paused boolean NOT NULL DEFAULT false,
  -- segment -> Instantly campaign id (one campaign per segment template)
  campaigns jsonb NOT NULL DEFAULT '{}'::jsonb,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One contact in one sequence.
CREATE TABLE outreach_enrollments (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  sequence text NOT NULL,
  channel text NOT NULL CHECK (channel IN ('sendgrid', 'instantly')),
  segment text NOT NULL,
  sender text NOT NULL,
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'completed', 'stopped')),
  stop_reason text,
  -- index of the next step to send (Sluice-scheduled channels); steps.length = done
  next_step integer NOT NULL DEFAULT 0,
  next_due_at timestamptz,
  -- Instantly: the lead's id once it is in the campaign
  remote_lead_id text,
  claimed_until timestamptz,
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (contact_id, sequence)
);
CREATE INDEX outreach_enrollments_due_idx ON outreach_enrollments (next_due_at) WHERE state = 'active';

-- The outbox: one row per message, written before the provider is called, with a deterministic key
-- (sequence:contact:step). pending -> sent | unknown (answer lost) -> sent | pending (reconciled).
CREATE TABLE outreach_sends (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  send_key text NOT NULL UNIQUE,
  enrollment_id bigint REFERENCES outreach_enrollments (id) ON DELETE CASCADE,
  contact_id bigint NOT NULL,
  sequence text NOT NULL,
  step integer NOT NULL,
  channel text NOT NULL,
  sender text NOT NULL,
  to_email text NOT NULL,
  subject text NOT NULL,
  starter text,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'unknown', 'failed')),
  provider_message_id text,
  error text,
  attempts integer NOT NULL DEFAULT 0,
  -- a process sending it holds it until then; a pending row past its claim lost its process (kill -9)
  claimed_until timestamptz,
  -- the sender's calendar day in the contact's send window (per-sender daily caps)
  send_day date NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz
);
CREATE INDEX outreach_sends_sender_day_idx ON outreach_sends (sender, send_day);
CREATE INDEX outreach_sends_open_idx ON outreach_sends (state) WHERE state IN ('pending', 'unknown');

-- Email events from webhooks and polls, deduplicated on the provider's key (SendGrid sg_event_id;
-- Instantly has none: a composite of event type, lead, campaign, step and timestamp).
CREATE TABLE outreach_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  provider text NOT NULL,
  event_key text NOT NULL,
  kind text NOT NULL,
  email text NOT NULL,
  contact_id bigint,
  send_key text,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb,
  occurred_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (provider, event_key)
);
CREATE INDEX outreach_events_contact_idx ON outreach_events (contact_id, occurred_at);

-- Addresses no sequence ever sends to again (bounce, unsubscribe, complaint, or added by hand).
CREATE TABLE outreach_suppressions (
  email text PRIMARY KEY,
  reason text NOT NULL,
  source text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A contact's outreach state once an event stopped it: replied, auto_replied, bounced, unsubscribed,
-- complained. CRM update and rep notification are recorded so a repeated event does neither twice.
CREATE TABLE outreach_contact_state (
  contact_id bigint PRIMARY KEY REFERENCES contacts (id) ON DELETE CASCADE,
  state text NOT NULL,
  event_id bigint,
  crm_result text,
  notified_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Record events for a contact's stage change (attributes.stage: a CRM status that came back).
ALTER TABLE record_events DROP CONSTRAINT record_events_event_check;
ALTER TABLE record_events ADD CONSTRAINT record_events_event_check
  CHECK (event IN ('account.created', 'contact.created', 'contact.stage_changed'));

CREATE FUNCTION sluice_contact_stage_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM trigger_settings WHERE enabled) THEN
    INSERT INTO record_events (event, entity_id, origin)
    SELECT 'contact.stage_changed', n.id, nullif(current_setting('sluice.origin', true), '')
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE (n.attributes ->> 'stage') IS DISTINCT FROM (o.attributes ->> 'stage');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER contacts_stage_changed AFTER UPDATE ON contacts
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sluice_contact_stage_changed();
