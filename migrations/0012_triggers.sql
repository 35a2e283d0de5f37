-- Triggers: every account or contact created (import, API, webhook, or an INSERT by hand or by another
-- system, as Supabase users do) is recorded in record_events by a database trigger; `sluice serve`
-- matches them against the rules of sluice.config.yaml. Immutable once landed.

CREATE TABLE record_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event text NOT NULL CHECK (event IN ('account.created', 'contact.created')),
  entity_id bigint NOT NULL,
  -- set by Sluice's own writers (`SET LOCAL sluice.origin = 'api'`); null for imports and plain SQL
  origin text,
  claimed_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX record_events_id_idx ON record_events (id) WHERE claimed_until IS NULL;

-- Whether the triggers record anything: switched on by `sluice serve` when its config has rules, and
-- left on when it stops, so rows inserted while no server runs are picked up at the next start.
CREATE TABLE trigger_settings (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  enabled boolean NOT NULL DEFAULT false
);
INSERT INTO trigger_settings (id, enabled) VALUES (true, false);

-- Statement-level with transition tables: one INSERT … SELECT per statement, not one per row, so a
-- 100,000-row import pays one extra statement per batch.
CREATE FUNCTION sluice_record_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM trigger_settings WHERE enabled) THEN
    INSERT INTO record_events (event, entity_id, origin)
    SELECT TG_ARGV[0], n.id, nullif(current_setting('sluice.origin', true), '') FROM new_rows n;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER accounts_created AFTER INSERT ON accounts REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sluice_record_created('account.created');
CREATE TRIGGER contacts_created AFTER INSERT ON contacts REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sluice_record_created('contact.created');
