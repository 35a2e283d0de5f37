-- The runs explorer's search (issue #13, `/runs?q=`) reads lower-cased text stored ahead, so a search is
-- one LIKE per row instead of ILIKE (case-folding every character) over several columns and jsonb
-- converted to text: bench:ui's "runs search" with 50,000 runs and 25,000 accounts.
-- * runs.search_text: the run's errors (a generated column: every writer keeps it true).
-- * account_search: an account's name, domain, website and attributes, kept by statement triggers with
--   transition tables (like 0012's), in a table of its own because account rows are handed whole to
--   pipelines and callbacks (to_jsonb(a)), which must not grow an internal column.
-- src/ui/queries/runs.ts. Immutable once landed.
ALTER TABLE runs ADD COLUMN search_text text GENERATED ALWAYS AS (
  lower(coalesce(error, '') || ' ' || CASE WHEN errors = '[]'::jsonb THEN '' ELSE errors::text END)
) STORED;

CREATE TABLE account_search (
  account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  search_text text NOT NULL
);

INSERT INTO account_search (account_id, search_text)
SELECT id, lower(coalesce(name, '') || ' ' || coalesce(domain, '') || ' ' || coalesce(website, '') || ' ' ||
                 CASE WHEN attributes = '{}'::jsonb THEN '' ELSE attributes::text END)
  FROM accounts;

-- Inserted rows: a plain INSERT (new ids cannot conflict). Updated rows: only those whose text changed
-- (most account updates write other columns: phone, segment...).
CREATE FUNCTION sluice_account_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO account_search (account_id, search_text)
  SELECT n.id, lower(coalesce(n.name, '') || ' ' || coalesce(n.domain, '') || ' ' || coalesce(n.website, '') || ' ' ||
                     CASE WHEN n.attributes = '{}'::jsonb THEN '' ELSE n.attributes::text END)
    FROM new_rows n;
  RETURN NULL;
END $$;

CREATE FUNCTION sluice_account_search_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO account_search (account_id, search_text)
  SELECT n.id, lower(coalesce(n.name, '') || ' ' || coalesce(n.domain, '') || ' ' || coalesce(n.website, '') || ' ' ||
                     CASE WHEN n.attributes = '{}'::jsonb THEN '' ELSE n.attributes::text END)
    FROM new_rows n JOIN old_rows o ON o.id = n.id
   WHERE (n.name, n.domain, n.website, n.attributes) IS DISTINCT FROM (o.name, o.domain, o.website, o.attributes)
  ON CONFLICT (account_id) DO UPDATE SET search_text = EXCLUDED.search_text;
  RETURN NULL;
END $$;

CREATE TRIGGER accounts_search_insert AFTER INSERT ON accounts REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sluice_account_search_insert();
CREATE TRIGGER accounts_search_update AFTER UPDATE ON accounts REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sluice_account_search_update();

-- The runs explorer's provider filter (`/runs?provider=`: EXISTS a ledger row of the run for that
-- provider) answered from the index alone, without a heap fetch per ledger row of each run. Replaces
-- 0002's ledger_run_idx (run_id), whose lookups by run it serves as well.
CREATE INDEX ledger_run_provider_idx ON ledger (run_id, provider) WHERE run_id IS NOT NULL;
DROP INDEX ledger_run_idx;
