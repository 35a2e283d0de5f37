-- Schedules (docs/schedules.md) and freshness passes (docs/freshness.md). Immutable once landed.

-- What should run when. pg-boss's schedule table holds the cron entry that fires it (queue
-- `sluice.schedules`, key = name); this row says what a firing does. Built-in rows are created by
-- every process that runs schedules and are never re-created once removed (enabled = false).
CREATE TABLE schedules (
  name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]{0,62}$'),
  action text NOT NULL,
  args jsonb NOT NULL DEFAULT '{}'::jsonb,
  cron text NOT NULL,
  timezone text NOT NULL DEFAULT 'UTC',
  builtin boolean NOT NULL DEFAULT false,
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per firing (cron or run-now): who ran it, how it ended, what it did.
CREATE TABLE schedule_runs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  schedule text NOT NULL,
  trigger text NOT NULL CHECK (trigger IN ('cron', 'manual')),
  job_id text,
  state text NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'skipped', 'abandoned')),
  -- the process that ran it ("host:pid")
  runner text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  summary jsonb,
  error text
);
CREATE INDEX schedule_runs_schedule_idx ON schedule_runs (schedule, started_at DESC);
-- At most one running firing per schedule: a firing that overlaps a slow one is recorded as skipped.
CREATE UNIQUE INDEX schedule_runs_one_running ON schedule_runs (schedule) WHERE state = 'running';

-- A freshness pass: stale contacts re-verified, changes marked, replacements found.
CREATE TABLE freshness_passes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
  days integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  selected integer NOT NULL DEFAULT 0,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  error text
);

-- One contact's check in a pass, with the evidence that decided it.
CREATE TABLE freshness_checks (
  pass_id bigint NOT NULL REFERENCES freshness_passes (id) ON DELETE CASCADE,
  contact_id bigint NOT NULL,
  account_id bigint,
  outcome text NOT NULL CHECK (outcome IN ('verified', 'bounced', 'changed', 'unknown', 'failed')),
  email_status text,
  evidence jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- the person found in the role the contact left (a new contact; the old one is never rewritten)
  replacement_contact_id bigint,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  checked_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pass_id, contact_id)
);
CREATE INDEX freshness_checks_contact_idx ON freshness_checks (contact_id, checked_at DESC);
