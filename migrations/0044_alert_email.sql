-- Alerts by email (docs/learning.md "Alerts on timing signals"): a rule may notify an address through a
-- `message` email tool of src/outreach (SendGrid) instead of a Slack incoming webhook. The notification
-- row is the email's outbox: written with the notification, sent after the commit, reconciled by its send
-- key after an ambiguous failure. Immutable once landed: change the schema with a new numbered file.

ALTER TABLE alert_rules DROP CONSTRAINT alert_rules_channel_check;
ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_channel_check CHECK (channel IN ('slack', 'email'));
ALTER TABLE alert_rules ALTER COLUMN endpoint_id DROP NOT NULL;
-- email: where it goes, who it is from, and the email tool (an id of src/outreach/registry.ts)
ALTER TABLE alert_rules ADD COLUMN email_to text;
ALTER TABLE alert_rules ADD COLUMN email_from text;
ALTER TABLE alert_rules ADD COLUMN email_provider text;
ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_target_check CHECK (
  (channel = 'slack' AND endpoint_id IS NOT NULL)
  OR (channel = 'email' AND email_to IS NOT NULL AND email_from IS NOT NULL AND email_provider IS NOT NULL));

-- pending: to send; unconfirmed: a send was attempted and its answer is unknown (looked up by send key
-- before anything is sent again); sent; failed: the tool refused it (never retried).
ALTER TABLE alert_notifications ADD COLUMN email_state text
  CHECK (email_state IN ('pending', 'unconfirmed', 'sent', 'failed'));
ALTER TABLE alert_notifications ADD COLUMN email_subject text;
ALTER TABLE alert_notifications ADD COLUMN email_text text;
ALTER TABLE alert_notifications ADD COLUMN email_message_id text;
ALTER TABLE alert_notifications ADD COLUMN email_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE alert_notifications ADD COLUMN email_attempted_at timestamptz;
-- the last failure's message (no secret: errors name variables, never values)
ALTER TABLE alert_notifications ADD COLUMN email_error text;
CREATE INDEX alert_notifications_email_due_idx ON alert_notifications (created_at)
  WHERE email_state IN ('pending', 'unconfirmed');
