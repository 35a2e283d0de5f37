-- Rate limits as sliding windows (src/limits/sliding-window.ts): "at most N calls in any W", the way
-- providers count. Each window of an account (key `<account>:<W>ms`) keeps the places of its recent
-- calls in `rate_log`; a call may go at the earliest time that is at least W (plus the margin) after
-- the N-th latest of them. The GCRA state of 0002 is dropped: its keys and meaning change.
DELETE FROM rate_limits;
COMMENT ON COLUMN rate_limits.tat_ms IS 'no call of this window before then (a throttle''s pause)';

-- One row per booked place and window; rows older than the window are pruned by the bookings.
CREATE TABLE rate_log (
  id bigserial PRIMARY KEY,
  key text NOT NULL,
  at_ms double precision NOT NULL
);
CREATE INDEX rate_log_key_at_idx ON rate_log (key, at_ms);

-- Books one call in every window of `p_keys` at once, on the database clock (the one clock every
-- process shares): the earliest time >= now + p_lead_ms, >= every window's tat_ms (a pause), and
-- >= the N-th latest recorded place of each window (N = p_sizes) + its span (p_spans_ms: W plus the
-- margin). The place is recorded `p_extra_ms` later than it is given (the latest the call may leave).
-- Why that is exact: of any N+1 calls, the one booked last was placed at least a span after the N-th
-- latest record before it, so at least one of the other N left a span (minus what it may be late)
-- before it. Nothing is booked when the place is more than p_max_wait_ms away. The window rows are locked in key order, so bookings of one
-- account serialise and never deadlock; plpgsql gives each statement a fresh snapshot, so the log
-- read after the lock includes the previous booking. Returns the place and the ids of its rows
-- (sluice_release_rate gives a place up that was never used).
CREATE FUNCTION sluice_book_rate(p_keys text[], p_sizes integer[], p_spans_ms double precision[],
                                 p_lead_ms double precision, p_max_wait_ms double precision,
                                 p_extra_ms double precision)
RETURNS TABLE (wait_ms double precision, at_ms double precision, now_ms double precision, ids bigint[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now double precision;
  v_at double precision;
  v_ids bigint[];
BEGIN
  INSERT INTO rate_limits (key, tat_ms)
  SELECT u.k, 0 FROM unnest(p_keys) AS u(k) ORDER BY u.k
  ON CONFLICT (key) DO NOTHING;
  PERFORM 1 FROM rate_limits l WHERE l.key = ANY(p_keys) ORDER BY l.key FOR UPDATE;
  v_now := extract(epoch FROM clock_timestamp())::double precision * 1000;
  -- Places that can no longer count against any future call.
  DELETE FROM rate_log g USING unnest(p_keys, p_spans_ms) AS u(k, w)
  WHERE g.key = u.k AND g.at_ms <= v_now - u.w;
  SELECT greatest(v_now + p_lead_ms, max(l.tat_ms), max(nth.at_ms + u.w)) INTO v_at
  FROM unnest(p_keys, p_sizes, p_spans_ms) AS u(k, n, w)
  JOIN rate_limits l ON l.key = u.k
  LEFT JOIN LATERAL (
    SELECT g.at_ms FROM rate_log g WHERE g.key = u.k ORDER BY g.at_ms DESC OFFSET u.n - 1 LIMIT 1
  ) nth ON true;
  IF v_at - v_now > p_max_wait_ms THEN
    RETURN QUERY SELECT v_at - v_now, NULL::double precision, v_now, NULL::bigint[];
    RETURN;
  END IF;
  WITH ins AS (
    INSERT INTO rate_log (key, at_ms) SELECT u.k, v_at + p_extra_ms FROM unnest(p_keys) AS u(k) RETURNING id
  )
  SELECT array_agg(id) INTO v_ids FROM ins;
  RETURN QUERY SELECT v_at - v_now, v_at, v_now, v_ids;
END $$;
