-- CRM sync (docs/sync.md): the remote-id map and last-sent snapshot per (sync, record), the outbox of
-- creates the destination cannot make idempotent, sync runs, and the inbound side (watermarks, CRM
-- events, conflicts). Immutable once landed: change the schema with a new numbered file.

-- One row per (sync, record): where the record lives in the destination and what was last sent.
CREATE TABLE sync_records (
  sync_name text NOT NULL,
  destination text NOT NULL,
  entity_type text NOT NULL CHECK (entity_type IN ('account', 'contact')),
  entity_id bigint NOT NULL,
  -- the destination's id (ClickUp task id, HubSpot object id, GoHighLevel contact id); null until created
  remote_id text,
  -- the list/folder/owner the record was routed to when last sent
  route jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- remote field -> value last sent successfully (the snapshot the diff compares with)
  sent jsonb NOT NULL DEFAULT '{}'::jsonb,
  sent_hash text,
  -- remote field -> value last seen in the destination (webhook, poll), for only-if-blank and echoes
  remote jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- result of the last attempt: ok, skipped, retryable, permanent
  status text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'skipped', 'retryable', 'permanent')),
  error text,
  -- hash of the values a permanent failure was about: not retried until the record changes
  failed_hash text,
  failures integer NOT NULL DEFAULT 0,
  archived boolean NOT NULL DEFAULT false,
  synced_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sync_name, entity_type, entity_id)
);
CREATE INDEX sync_records_remote_idx ON sync_records (destination, remote_id) WHERE remote_id IS NOT NULL;
CREATE INDEX sync_records_status_idx ON sync_records (sync_name, status) WHERE status <> 'ok';

-- Creates that may or may not have happened: written before the request, settled after it.
-- pending: about to be sent; unknown: sent, answer lost (timeout, 5xx, crash); done: remote id known.
CREATE TABLE sync_outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sync_name text NOT NULL,
  entity_type text NOT NULL,
  entity_id bigint NOT NULL,
  -- the deterministic key the destination stores (sluice_id custom field): found again by reconcile
  key text NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'unknown', 'done')),
  remote_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sync_outbox_open_key ON sync_outbox (sync_name, entity_type, entity_id)
  WHERE state <> 'done';

-- One row per `sluice sync run` (or triggered run): counts and how it ended.
CREATE TABLE sync_runs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sync_name text NOT NULL,
  destination text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
  -- {created, updated, archived, unchanged, skipped, retryable, permanent, requests}
  counts jsonb NOT NULL DEFAULT '{}'::jsonb,
  error text
);
CREATE INDEX sync_runs_name_idx ON sync_runs (sync_name, id DESC);
