-- Syncs that run by themselves (docs/sync.md "When a sync runs"), and the ledger rows the dashboard's
-- rollup must still fold (docs/ui.md "Pages stay fast"). Immutable once landed: change the schema with a
-- new numbered file.

-- A sync definition switched on with `sluice sync enable`: its `runs.after_pipeline` and `runs.every`
-- are acted on by every `sluice serve`, `sluice sync watch` and, after its batch, `sluice run`.
CREATE TABLE sync_schedules (
  sync_name text PRIMARY KEY,
  -- what `loadSync` is given: a built-in name or an absolute file path, read again at every check
  definition text NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  -- the newest finished_at of the `after_pipeline` batches already synced after (null: none yet)
  batches_until timestamptz,
  last_started_at timestamptz,
  last_finished_at timestamptz,
  -- done | failed, and the failure's message (no secret: errors name variables, never values)
  last_status text,
  last_error text,
  -- the process running it holds it until then (renewed while it runs); after a failure, the backoff
  lease_until timestamptz,
  lease_owner text,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Finished batches by time, for the after_pipeline check (a range, not a scan of every batch).
CREATE INDEX batches_finished_idx ON batches (finished_at) WHERE finished_at IS NOT NULL;

-- Ids the rollup passed that had no ledger row yet: a transaction still open (its row commits later, with
-- an id below the watermark) or rolled back. Each fold folds the ones that appeared; readers add them to
-- the unfolded tail; ids older than a day are forgotten (rolled back for good).
CREATE TABLE ledger_rollup_gaps (
  id bigint PRIMARY KEY,
  noted_at timestamptz NOT NULL DEFAULT now()
);
