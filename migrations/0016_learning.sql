-- Compound learning (docs/learning.md): what people type (engagements, patterns and their versions,
-- intelligence entries, deployments with their success criteria) and what later happens to a value
-- (value_outcomes). Everything measured (coverage, cost, speed, success, maturity) is computed from
-- runs, the ledger and these tables by src/learning/, never stored as typed figures.
-- Immutable once landed: change the schema with a new numbered file.

-- Words of the search documents; array_to_string itself is only STABLE, so generated columns need this.
CREATE FUNCTION learning_words(text[]) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT coalesce(array_to_string($1, ' '), '') $$;

-- One client engagement, after the seeds' engagement schema (client, project, outcomes).
CREATE TABLE engagements (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- the name used on the command line (`sluice retro demo`)
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9._-]*$'),
  name text NOT NULL,
  industry text,
  stage text,
  team_size integer CHECK (team_size IS NULL OR team_size >= 0),
  tech_stack text[] NOT NULL DEFAULT '{}',
  planned_start date,
  planned_end date,
  actual_start date,
  actual_end date,
  budget_planned_usd numeric(14, 2),
  budget_actual_usd numeric(14, 2),
  client_satisfaction integer CHECK (client_satisfaction IS NULL OR client_satisfaction BETWEEN 1 AND 10),
  would_hire_again boolean,
  -- success_metrics, compliance_issues, timing_triggers and the like, as the person wrote them
  notes jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A reusable way of doing something (enrichment waterfall, integration, automation).
CREATE TABLE patterns (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9._-]*$'),
  name text NOT NULL,
  category text NOT NULL CHECK (category IN ('enrichment', 'integration', 'automation')),
  use_case text NOT NULL DEFAULT '',
  -- context: empty = all
  industries text[] NOT NULL DEFAULT '{}',
  stages text[] NOT NULL DEFAULT '{}',
  company_size text,
  -- the "Sequence"/architecture, markdown
  architecture text NOT NULL DEFAULT '',
  failure_modes text[] NOT NULL DEFAULT '{}',
  tags text[] NOT NULL DEFAULT '{}',
  -- the person's "unfair advantage" flag; maturity `signature` = this on top of battle-tested
  signature boolean NOT NULL DEFAULT false,
  -- figures the pattern's author documented (e.g. "70% hit rate, $0.50"), kept apart from measured ones
  documented jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- default success criteria of a deployment (see deployments.criteria)
  criteria jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- builtin (patterns/ folder), user, extracted (sluice patterns extract)
  origin text NOT NULL DEFAULT 'user' CHECK (origin IN ('builtin', 'user', 'extracted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', name), 'A') ||
    setweight(to_tsvector('english', learning_words(tags)), 'B') ||
    setweight(to_tsvector('english', use_case), 'C') ||
    setweight(to_tsvector('english', architecture || ' ' || learning_words(failure_modes)), 'D')
  ) STORED
);
CREATE INDEX patterns_search_idx ON patterns USING gin (search);

-- A released form of a pattern: the pipeline template (and sync/sequence templates) with the
-- parameters a deployment must give. Templates are stored as text, snapshot at release.
CREATE TABLE pattern_versions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  pattern_id bigint NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
  version text NOT NULL,
  released_on date,
  changelog text NOT NULL DEFAULT '',
  -- pipeline YAML with ${param} placeholders
  pipeline_template text,
  sync_template text,
  sequence_template text,
  -- {name: {description, type, default?, enum?}}
  params jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (pattern_id, version)
);

-- A pattern version used in an engagement, with what counts as success there.
CREATE TABLE deployments (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  engagement_id bigint NOT NULL REFERENCES engagements (id) ON DELETE CASCADE,
  pattern_version_id bigint NOT NULL REFERENCES pattern_versions (id) ON DELETE RESTRICT,
  -- the pipeline name or file the deployment runs as (`sluice run --pipeline`)
  pipeline text NOT NULL,
  params jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- {min_coverage?, max_cost_per_record_usd?, max_cost_per_found_value_usd?, min_records?}
  criteria jsonb NOT NULL DEFAULT '{}'::jsonb,
  deployed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deployments_engagement_idx ON deployments (engagement_id);
CREATE INDEX deployments_version_idx ON deployments (pattern_version_id);

-- The batches a deployment ran (a batch belongs to at most one deployment).
CREATE TABLE deployment_batches (
  deployment_id bigint NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
  batch_id bigint NOT NULL UNIQUE REFERENCES batches (id) ON DELETE CASCADE,
  PRIMARY KEY (deployment_id, batch_id)
);

-- Knowledge that is not (only) a pipeline: patterns written up, playbooks, compliance, timing signals.
CREATE TABLE intelligence_entries (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9._-]*$'),
  type text NOT NULL CHECK (type IN ('pattern', 'playbook', 'compliance', 'timing')),
  title text NOT NULL,
  body text NOT NULL DEFAULT '',
  confidence text CHECK (confidence IS NULL OR confidence IN ('low', 'medium', 'high')),
  tags text[] NOT NULL DEFAULT '{}',
  industries text[] NOT NULL DEFAULT '{}',
  stages text[] NOT NULL DEFAULT '{}',
  related_patterns text[] NOT NULL DEFAULT '{}',
  related_engagements text[] NOT NULL DEFAULT '{}',
  -- [{kind: url|batch|deployment|engagement, ref}]
  evidence jsonb NOT NULL DEFAULT '[]'::jsonb,
  origin text NOT NULL DEFAULT 'user' CHECK (origin IN ('builtin', 'user', 'extracted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', title), 'A') ||
    setweight(to_tsvector('english', learning_words(tags)), 'B') ||
    setweight(to_tsvector('english', body), 'D')
  ) STORED
);
CREATE INDEX intelligence_entries_search_idx ON intelligence_entries USING gin (search);

-- What later happened to a value: verified (a checker said good), bounced, corrected (a rep or the CRM
-- changed it), replied (outreach got an answer). Fed by freshness, outreach, CRM sync and verifiers.
CREATE TABLE value_outcomes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  entity_type text NOT NULL CHECK (entity_type IN ('account', 'contact')),
  entity_id bigint NOT NULL,
  field text NOT NULL,
  value jsonb,
  -- the observation judged, when known
  field_value_id bigint REFERENCES field_values (id) ON DELETE SET NULL,
  outcome text NOT NULL CHECK (outcome IN ('verified', 'bounced', 'corrected', 'replied')),
  -- who said so: verifier, freshness, outreach, crm, manual
  source text NOT NULL,
  provider text,
  operation text,
  -- the run whose value it judges
  run_id bigint,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb,
  observed_at timestamptz NOT NULL DEFAULT now()
);
-- the same judgement of the same observation recorded twice (a rerun of the feeder) is one outcome
CREATE UNIQUE INDEX value_outcomes_once_idx ON value_outcomes (field_value_id, outcome, source)
  WHERE field_value_id IS NOT NULL;
CREATE INDEX value_outcomes_run_idx ON value_outcomes (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX value_outcomes_entity_idx ON value_outcomes (entity_type, entity_id, field);
