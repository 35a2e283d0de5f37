-- Sluice core schema: accounts, contacts, the provenance log (field_values), imports.
-- Immutable once landed: change the schema with a new numbered file.

CREATE TABLE sluice_maintenance (
  task text PRIMARY KEY,
  last_run_at timestamptz NOT NULL
);

-- A company (a golf course in the demo). Columns hold the current value of each field, derived from
-- field_values by the rule in docs/glossary.md ("current value"). Fields without a column of their own
-- live in `attributes`.
CREATE TABLE accounts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text,
  -- normalized name used for dedupe when there is no domain (lowercase, no punctuation/legal suffix)
  name_key text,
  domain text,
  website text,
  phone text,
  address text,
  city text,
  state text,
  postal_code text,
  country text,
  industry text,
  segment text,
  linkedin_url text,
  status text NOT NULL DEFAULT 'new',
  attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_domain_key ON accounts (domain) WHERE domain IS NOT NULL;
CREATE INDEX accounts_name_state_idx ON accounts (name_key, (coalesce(lower(state), '')));

-- A person at an account.
CREATE TABLE contacts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id bigint REFERENCES accounts (id) ON DELETE SET NULL,
  first_name text,
  last_name text,
  full_name text,
  name_key text,
  title text,
  email text,
  phone text,
  linkedin_url text,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
  last_verified_at timestamptz,
  attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contacts_email_key ON contacts (email) WHERE email IS NOT NULL;
CREATE INDEX contacts_account_name_idx ON contacts (account_id, name_key);

-- Every value ever observed for a field of an account or contact, with where it came from.
CREATE TABLE field_values (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  entity_type text NOT NULL CHECK (entity_type IN ('account', 'contact')),
  entity_id bigint NOT NULL,
  field text NOT NULL,
  value jsonb NOT NULL,
  source text NOT NULL CHECK (source IN ('import', 'provider', 'step', 'manual', 'crm')),
  provider text,
  operation text,
  run_id bigint,
  import_id bigint,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  -- 0..1; null means "as good as the source gets" (imports, manual edits)
  confidence real CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1)),
  observed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX field_values_entity_idx ON field_values (entity_type, entity_id, field, observed_at DESC);
CREATE INDEX field_values_run_idx ON field_values (run_id) WHERE run_id IS NOT NULL;

CREATE TABLE imports (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  file text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('accounts', 'contacts')),
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  rows_read integer NOT NULL DEFAULT 0,
  inserted integer NOT NULL DEFAULT 0,
  merged integer NOT NULL DEFAULT 0,
  unchanged integer NOT NULL DEFAULT 0,
  rejected integer NOT NULL DEFAULT 0,
  -- [{line, reason}], the first 1000 rejections
  errors jsonb NOT NULL DEFAULT '[]'::jsonb
);
