-- Pooled batch figures and the learning refresh's state (docs/architecture.md "Batch figures",
-- docs/learning.md "Refresh"). Immutable once landed: change the schema with a new numbered file.

-- What does not add up over batches, kept per batch so several batches pool exactly
-- (engine/batch-figures.ts pooledFigures): the distinct accounts the runs worked on, the accounts and
-- contacts that got values (sorted ids, delta-encoded as unsigned LEB128 varints: a few bytes an id), and
-- the finished runs' times as a histogram of milliseconds ({"22440": 3}: exact below 10 s, 4 significant
-- digits above, so a pooled percentile is within 0.05% (+0.5 ms) of the exact one). NULL: figures stored before this
-- migration; the read port computes them again on first read.
ALTER TABLE batch_figures
  ADD COLUMN account_ids bytea,
  ADD COLUMN value_account_ids bytea,
  ADD COLUMN value_contact_ids bytea,
  ADD COLUMN run_ms jsonb;

-- What the refresh every learning command runs first last saw (learning/refresh.ts): `library` = a hash
-- of the library's files, `outcomes` = the verifier outcomes' watermark (newest field value, verifier
-- cache entries, deployed batches). An unchanged stamp skips that part of the refresh.
CREATE TABLE learning_refresh_state (
  name text PRIMARY KEY,
  stamp text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
