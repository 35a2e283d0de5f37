-- An import stopped by SIGINT/SIGTERM, or found dead at the next start, is `interrupted`; its counts
-- are those of the batches it committed (each batch updates them in its own transaction).
-- pid/host/heartbeat_at tell a live import from a dead one on server Postgres, where several
-- processes may import at once.
ALTER TABLE imports DROP CONSTRAINT imports_status_check;
ALTER TABLE imports ADD CONSTRAINT imports_status_check
  CHECK (status IN ('running', 'done', 'failed', 'interrupted'));
ALTER TABLE imports ADD COLUMN pid integer, ADD COLUMN host text, ADD COLUMN heartbeat_at timestamptz;
