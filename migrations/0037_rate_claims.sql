-- Rate-limit places are claimed shortly before their call leaves (src/limits/sliding-window.ts).
-- A booking (sluice_book_rate, 0020) is a place ahead of time: how long to sleep, and a row holding
-- room in every window so callers booking at once spread out. But a booking is made long before its
-- call leaves, from places that were themselves only planned; a timer can wake late (a busy event
-- loop, a starved CPU), so planned places say little about when the provider saw a call. A little
-- before its place, a call CLAIMS it: sluice_claim_rate computes, from the calls already sent, the
-- time it may leave and records it there as `sent`; the caller sleeps until then and, if it left
-- later, moves its row to when it left (sluice_sent_rate). Calls a window later claim after that
-- move, so they are placed from where their predecessors really went, and a late call costs nobody
-- else a place.
ALTER TABLE rate_log ADD COLUMN sent boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN rate_log.sent IS 'claimed: at_ms is when the call left (database clock); else a place booked ahead';

-- Claims, in order, the calls whose rows are `p_ids` (`p_keys`'s length rows per call, ordered by
-- call; calls in the order they booked). Each call may leave at the earliest time, not before now,
-- when in every window the N-th latest row among those sent and those booked before it (lower id)
-- is a span (W + margin) back, and no pause (tat_ms) holds the window; its rows are set to that
-- time, `sent`. Why no window ever holds N+1 sent calls: claims of one window serialise on its
-- rate_limits row, and each sent row is a span after the N-th latest sent row before it, so no span
-- shorter than W + margin holds it and N others. Claims stop at the first call that would wait more
-- than p_max_wait_ms: `claimed` calls got `at_ms` (one per call); the next would wait `wait_ms`.
CREATE FUNCTION sluice_claim_rate(p_ids bigint[], p_keys text[], p_sizes integer[],
                                  p_spans_ms double precision[], p_max_wait_ms double precision)
RETURNS TABLE (claimed integer, at_ms double precision[], wait_ms double precision, now_ms double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now double precision;
  v_at double precision;
  v_ats double precision[] := '{}';
  v_k integer := cardinality(p_keys);
  v_calls integer := cardinality(p_ids) / greatest(cardinality(p_keys), 1);
  v_mine bigint[];
  v_first bigint;
  c integer;
BEGIN
  -- A claim is on the way of its call: its commit must not wait for the WAL to reach disk (a claim
  -- lost in a server crash belongs to a call the crash stopped too).
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM 1 FROM rate_limits l WHERE l.key = ANY(p_keys) ORDER BY l.key FOR UPDATE;
  v_now := extract(epoch FROM clock_timestamp())::double precision * 1000;
  FOR c IN 1..v_calls LOOP
    v_mine := p_ids[(c - 1) * v_k + 1 : c * v_k];
    SELECT min(x) INTO v_first FROM unnest(v_mine) AS x;
    SELECT greatest(v_now, max(l.tat_ms), max(nth.at_ms + u.w)) INTO v_at
    FROM unnest(p_keys, p_sizes, p_spans_ms) AS u(k, n, w)
    JOIN rate_limits l ON l.key = u.k
    LEFT JOIN LATERAL (
      SELECT g.at_ms FROM rate_log g
      WHERE g.key = u.k AND (g.sent OR g.id < v_first) AND g.id <> ALL(v_mine)
      ORDER BY g.at_ms DESC OFFSET u.n - 1 LIMIT 1
    ) nth ON true;
    IF v_at - v_now > p_max_wait_ms THEN
      RETURN QUERY SELECT c - 1, v_ats, v_at - v_now, v_now;
      RETURN;
    END IF;
    UPDATE rate_log g SET at_ms = v_at, sent = true WHERE g.id = ANY(v_mine);
    -- A call that woke more than a span late may find its booked rows pruned: it is recorded anyway.
    INSERT INTO rate_log (key, at_ms, sent)
    SELECT u.k, v_at, true FROM unnest(p_keys) AS u(k)
    WHERE NOT EXISTS (SELECT 1 FROM rate_log g WHERE g.id = ANY(v_mine) AND g.key = u.k);
    v_ats := v_ats || v_at;
  END LOOP;
  RETURN QUERY SELECT v_calls, v_ats, 0::double precision, v_now;
END $$;

-- Moves sent calls to when they really left, if that was later than their claim (never earlier):
-- `p_ids[i]`'s row to `p_at_ms[i]`.
CREATE FUNCTION sluice_sent_rate(p_ids bigint[], p_at_ms double precision[])
RETURNS void LANGUAGE sql AS $$
  UPDATE rate_log g SET at_ms = greatest(g.at_ms, u.at) FROM unnest(p_ids, p_at_ms) AS u(id, at)
  WHERE g.id = u.id
$$;

-- sluice_book_rate (0020) as it was, without waiting for the WAL at commit.
CREATE OR REPLACE FUNCTION sluice_book_rate(p_keys text[], p_sizes integer[], p_spans_ms double precision[],
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
  -- Bookings of one window serialise on its row until they commit: that commit must not wait for
  -- the WAL to reach disk (a booking lost in a server crash is a place its call never claims).
  PERFORM set_config('synchronous_commit', 'off', true);
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
