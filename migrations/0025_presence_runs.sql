-- How many runs a process seen in worker_presence works at once: a `sluice serve --workers 0` is alive
-- but works no runs, so /health must not count it when it asks "is anybody working the queue?".
-- Immutable once landed.
ALTER TABLE worker_presence ADD COLUMN runs integer NOT NULL DEFAULT 0;
