-- Read views owned by the layers whose tables they show, for layers that join them in set-based SQL
-- (learning's quality figures and verifier outcomes) instead of reaching into those tables
-- (docs/style.md; docs/data.md "Read views", docs/gateway.md "Cache"). Views store nothing. Immutable
-- once landed: a migration that changes the tables under them redefines them.

-- records: each value a pipeline run wrote, with the run's batch.
CREATE VIEW run_field_values AS
  SELECT f.id, f.entity_type, f.entity_id, f.field, f.value, f.source, f.provider, f.operation, f.run_id,
         r.batch_id, f.observed_at
    FROM field_values f JOIN runs r ON r.id = f.run_id;

-- cache: the answers the cache holds by provider and operation, without its LRU and cost bookkeeping.
-- created_at is when the answer was last written (a refresh rewrites it).
CREATE VIEW cache_answers AS
  SELECT provider, operation, input, found, output, created_at FROM cache_entries;
