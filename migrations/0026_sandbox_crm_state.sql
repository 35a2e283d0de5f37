-- The sandbox CRM fakes' workspaces (docs/sync.md "Demo"): `sluice demo` keeps the fake ClickUp's tasks
-- here between runs, so a second demo finds the tasks the first one made (and creates none).
-- Simulated data only; nothing outside the sandbox reads it. Immutable once landed.
CREATE TABLE sandbox_crm_state (
  name text PRIMARY KEY,
  state jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
