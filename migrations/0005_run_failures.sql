-- Failed calls are visible and can be redriven; persistent throttles end.
-- Immutable once landed: change the schema with a new file.

-- A step (or foreach child) that could not finish some of its calls: status 'failed', the reasons in
-- output.data.errors. It is not a result: the run ends partial, and a redrive (`sluice dlq retry`,
-- `sluice run --retry-failed BATCH`) deletes these rows so exactly those steps run again.
ALTER TABLE run_steps DROP CONSTRAINT run_steps_status_check;
ALTER TABLE run_steps ADD CONSTRAINT run_steps_status_check
  CHECK (status IN ('found', 'not_found', 'skipped', 'failed'));
CREATE INDEX run_steps_failed_idx ON run_steps (run_id) WHERE status = 'failed';

-- How often the run was rescheduled because a provider kept throttling, and since when: past the
-- ceiling (count or time) the run goes to the dead-letter queue as `throttled` instead of looping.
-- failed_calls: failed steps of a partial run (0 for a complete one), for `sluice dlq list`.
-- redrives: how often the run was sent back after finishing; its final write then skips the values
-- this run already wrote (the memoized successes replayed), so each is recorded once.
ALTER TABLE runs
  ADD COLUMN throttles integer NOT NULL DEFAULT 0,
  ADD COLUMN throttled_since timestamptz,
  ADD COLUMN failed_calls integer NOT NULL DEFAULT 0,
  ADD COLUMN redrives integer NOT NULL DEFAULT 0;
