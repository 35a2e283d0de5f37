-- Outreach (docs/outreach.md): secrets Sluice generates for itself, and the watermark of each email
-- tool's reconciliation poll. Immutable once landed: change the schema with a new numbered file.

-- A secret generated once per database when no environment variable provides it (the unsubscribe
-- links' HMAC key: `SLUICE_OUTREACH_SECRET` wins when set). Every process on the database reads the
-- same value, so links stay valid across restarts and across `serve`/`worker` processes. Never logged.
CREATE TABLE instance_secrets (
  name text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The newest provider timestamp a poll of this tool processed (never "now"): the next poll reads from
-- it less an overlap, whatever webhooks brought in between (a webhook must not move it past an event
-- the poll has not seen).
CREATE TABLE outreach_poll_state (
  provider text PRIMARY KEY,
  watermark timestamptz NOT NULL,
  polled_at timestamptz NOT NULL DEFAULT now()
);
