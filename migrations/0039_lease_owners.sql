-- Lease owners (issue #10): on server Postgres a process that claims webhook deliveries or inbound hook
-- events holds a session-level advisory lock (lock_space, lock_key) for as long as it lives, and writes
-- its id into each claim (locked_by). Postgres drops the lock when the session ends, so a claim whose
-- owner's lock is free belongs to a process that died (kill -9, crash): any live process takes it back
-- at once instead of waiting out locked_until (30 s deliveries, 120 s events). locked_until stays the
-- fallback (a claim without an owner, or a host that vanished without closing its connections).
-- src/webhooks/lease-owner.ts. Immutable once landed.
CREATE TABLE lease_owners (
  id text PRIMARY KEY,
  lock_space integer NOT NULL,
  lock_key integer NOT NULL,
  host text NOT NULL,
  pid integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE webhook_deliveries ADD COLUMN locked_by text;
ALTER TABLE hook_events ADD COLUMN locked_by text;
