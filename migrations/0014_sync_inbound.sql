-- Two-way sync (docs/sync.md): CRM edits coming back by webhook or by the reconciliation poll.
-- Immutable once landed: change the schema with a new numbered file.

-- The poll's watermark per (sync): the newest remote change time processed, never "now".
CREATE TABLE sync_watermarks (
  sync_name text PRIMARY KEY,
  watermark timestamptz NOT NULL,
  polled_at timestamptz NOT NULL DEFAULT now()
);

-- Every inbound field change and what the rules decided, deduplicated by the CRM's event key.
CREATE TABLE sync_inbound (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sync_name text NOT NULL,
  -- webhook event id / history item id, or remote id + field + change time for the poll
  event_key text NOT NULL,
  entity_type text NOT NULL,
  entity_id bigint NOT NULL,
  field text NOT NULL,
  value jsonb NOT NULL,
  changed_at timestamptz NOT NULL,
  -- applied (a crm field value), echo (our own write), kept (ours wins by rule), conflict, same
  decision text NOT NULL CHECK (decision IN ('applied', 'echo', 'kept', 'conflict', 'same')),
  reason text,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sync_inbound_event_key ON sync_inbound (sync_name, event_key);

-- Values the rules could not decide: shown by `sluice sync conflicts`, never silently kept.
CREATE TABLE sync_conflicts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sync_name text NOT NULL,
  entity_type text NOT NULL,
  entity_id bigint NOT NULL,
  field text NOT NULL,
  ours jsonb,
  ours_source text,
  ours_at timestamptz,
  theirs jsonb,
  theirs_at timestamptz NOT NULL,
  state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
  resolution text CHECK (resolution IS NULL OR resolution IN ('crm', 'sluice')),
  created_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz
);
CREATE UNIQUE INDEX sync_conflicts_open ON sync_conflicts (sync_name, entity_type, entity_id, field)
  WHERE state = 'open';
