-- Rate limits as sliding windows (src/limits/sliding-window.ts): "at most N calls in any W", the way
-- providers count. Each window of an account (key `<account>:<W>ms`) keeps a ring of the send times
-- of its last N calls; a call may go at the earliest time that is at least W (plus the margin) after
-- the oldest of them. The GCRA state of 0002 is dropped: its keys and meaning change.
DELETE FROM rate_limits;
-- tat_ms now means "no call of this window before then": the newest booked send (bookings are
-- monotonic per window, so the ring stays sorted) or a throttle's pause (record-attempt pushes it).
ALTER TABLE rate_limits ADD COLUMN size integer NOT NULL DEFAULT 1, ADD COLUMN head integer NOT NULL DEFAULT 0;

-- The ring: slot 0..size-1; `head` is the next slot to write, which holds the oldest of the last
-- `size` sends once the ring is full (no row yet: fewer than `size` sends so far, no constraint).
CREATE TABLE rate_log (
  key text NOT NULL,
  slot integer NOT NULL,
  at_ms double precision NOT NULL,
  PRIMARY KEY (key, slot)
);

-- Books one call in every window of `p_keys` at once, on the database clock (the one clock every
-- process shares): the earliest time >= now + p_lead_ms, >= every window's tat_ms, and >= the oldest
-- of each full window's last N sends + its length (p_windows_ms, margin included). Nothing is booked
-- when that is more than p_max_wait_ms away. The window rows are locked in key order, so concurrent
-- bookings of one account serialise and never deadlock; plpgsql gives each statement a fresh snapshot,
-- so the ring read after the lock is the one the previous booking wrote. `p_extra_ms` records the
-- send that much later than it is booked (a cold first connection may arrive late).
CREATE FUNCTION sluice_book_rate(p_keys text[], p_sizes integer[], p_windows_ms double precision[],
                                 p_lead_ms double precision, p_max_wait_ms double precision,
                                 p_extra_ms double precision)
RETURNS TABLE (wait_ms double precision, at_ms double precision, now_ms double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now double precision;
  v_at double precision;
  r record;
BEGIN
  -- A window seen for the first time starts empty (a ring left by a deleted row is dropped).
  WITH ins AS (
    INSERT INTO rate_limits (key, size, tat_ms)
    SELECT u.k, u.s, 0 FROM unnest(p_keys, p_sizes) AS u(k, s) ORDER BY u.k
    ON CONFLICT (key) DO NOTHING
    RETURNING key
  )
  DELETE FROM rate_log g USING ins WHERE g.key = ins.key;
  PERFORM 1 FROM rate_limits l WHERE l.key = ANY(p_keys) ORDER BY l.key FOR UPDATE;
  -- A limit changed (config, plan): keep the most recent sends that fit the new size, in order.
  FOR r IN SELECT l.key, u.s FROM rate_limits l JOIN unnest(p_keys, p_sizes) AS u(k, s) ON u.k = l.key
           WHERE l.size <> u.s LOOP
    DELETE FROM rate_log g USING (
      SELECT x.slot, row_number() OVER (ORDER BY x.at_ms DESC, x.slot DESC) AS rn FROM rate_log x WHERE x.key = r.key
    ) o WHERE g.key = r.key AND g.slot = o.slot AND o.rn > r.s;
    UPDATE rate_log g SET slot = -1 - o.n FROM (
      SELECT x.slot, row_number() OVER (ORDER BY x.at_ms, x.slot) - 1 AS n FROM rate_log x WHERE x.key = r.key
    ) o WHERE g.key = r.key AND g.slot = o.slot;
    UPDATE rate_log g SET slot = -1 - g.slot WHERE g.key = r.key;
    UPDATE rate_limits l SET size = r.s, head = (SELECT count(*) FROM rate_log x WHERE x.key = r.key) % r.s
    WHERE l.key = r.key;
  END LOOP;
  v_now := extract(epoch FROM clock_timestamp())::double precision * 1000;
  SELECT greatest(v_now + p_lead_ms, max(l.tat_ms), max(g.at_ms + u.w)) INTO v_at
  FROM unnest(p_keys, p_windows_ms) AS u(k, w)
  JOIN rate_limits l ON l.key = u.k
  LEFT JOIN rate_log g ON g.key = l.key AND g.slot = l.head;
  IF v_at - v_now > p_max_wait_ms THEN
    RETURN QUERY SELECT v_at - v_now, NULL::double precision, v_now;
    RETURN;
  END IF;
  INSERT INTO rate_log (key, slot, at_ms)
  SELECT l.key, l.head, v_at + p_extra_ms FROM rate_limits l WHERE l.key = ANY(p_keys)
  ON CONFLICT (key, slot) DO UPDATE SET at_ms = EXCLUDED.at_ms;
  UPDATE rate_limits l SET head = (l.head + 1) % l.size, tat_ms = v_at + p_extra_ms WHERE l.key = ANY(p_keys);
  RETURN QUERY SELECT v_at - v_now, v_at, v_now;
END $$;
