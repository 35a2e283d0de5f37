-- Inbound webhook requests refused for their signature or URL token (issue #10). Kept apart from
-- hook_events on purpose: a forged request must never take a real event's dedupe key, and nothing here
-- is processed. Kept so a misconfigured secret is visible and its events recoverable
-- (`sluice webhooks reverify ID` after fixing it): ClickUp drops an event for good after 5 retries.
-- Bounded: the newest 1,000 per source are kept (hook-rejections.ts prunes). Immutable once landed.
CREATE TABLE hook_rejections (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source text NOT NULL,
  reason text NOT NULL,
  method text NOT NULL,
  -- the URL as called, with any token removed (path segment or ?token=)
  url text NOT NULL,
  -- the headers the source's check read, plus content-type and user-agent: signatures, never secrets
  headers jsonb NOT NULL,
  -- SHA-256 of the URL token sent, if any: enough to re-check it, useless to replay it
  token_sha256 text,
  -- the raw bytes (the first 64 KiB; body_bytes is the size received: a cut body cannot be re-checked)
  body bytea NOT NULL,
  body_bytes integer NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  -- set when `reverify` found it valid and stored it as a hook event
  accepted_event_id bigint
);
CREATE INDEX hook_rejections_source_idx ON hook_rejections (source, id DESC);
