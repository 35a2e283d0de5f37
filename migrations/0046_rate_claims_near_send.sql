-- Rate-limit claims only close to their send (src/limits/sliding-window.ts, docs/gateway.md "Rate
-- limits"). A claim (0037) places a call from where the calls already sent really went; it is right
-- only if every move it depends on (a call written to its socket later than claimed) has landed
-- before it. Moves land within milliseconds of the write, and the calls a window later claim a
-- little before they leave, so that holds, unless a claim is taken long before its call leaves: a
-- place booked early (from places that were claimed later than booked, in another process) whose
-- claim gave a time to leave a second away was sent on it, placed from calls still in flight, and a
-- late one of those put N+1 in the window (test/limits.test.ts, two gateways). Now a claim that
-- would leave more than `p_ahead_ms` after now is not taken: its rows move to that time (still
-- booked, so others book behind it) and the caller comes back then.
--
-- And a booking whose place is that close is claimed at once (`sent`), saving the claim statement:
-- a booking is placed from every row, sent or booked, a superset of what a claim reads.
DROP FUNCTION sluice_claim_rate(bigint[], text[], integer[], double precision[], double precision);

-- As 0037, plus `p_ahead_ms`: claims stop at the first call that would leave more than that after
-- now (`later`: its rows are moved there, unsent) or more than p_max_wait_ms (not `later`: nothing
-- moved). `claimed` calls got `at_ms` (one per call); the next would wait `wait_ms`.
CREATE FUNCTION sluice_claim_rate(p_ids bigint[], p_keys text[], p_sizes integer[],
                                  p_spans_ms double precision[], p_max_wait_ms double precision,
                                  p_ahead_ms double precision)
RETURNS TABLE (claimed integer, at_ms double precision[], wait_ms double precision, now_ms double precision,
               later boolean)
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
      RETURN QUERY SELECT c - 1, v_ats, v_at - v_now, v_now, false;
      RETURN;
    END IF;
    IF v_at - v_now > p_ahead_ms THEN
      UPDATE rate_log g SET at_ms = greatest(g.at_ms, v_at) WHERE g.id = ANY(v_mine);
      RETURN QUERY SELECT c - 1, v_ats, v_at - v_now, v_now, true;
      RETURN;
    END IF;
    UPDATE rate_log g SET at_ms = v_at, sent = true WHERE g.id = ANY(v_mine);
    -- A call that woke more than a span late may find its booked rows pruned: it is recorded anyway.
    INSERT INTO rate_log (key, at_ms, sent)
    SELECT u.k, v_at, true FROM unnest(p_keys) AS u(k)
    WHERE NOT EXISTS (SELECT 1 FROM rate_log g WHERE g.id = ANY(v_mine) AND g.key = u.k);
    v_ats := v_ats || v_at;
  END LOOP;
  RETURN QUERY SELECT v_calls, v_ats, 0::double precision, v_now, false;
END $$;

DROP FUNCTION sluice_book_rate(text[], integer[], double precision[], double precision, double precision,
                               double precision);

-- As 0037, plus `p_claim_within_ms`: a place at most that far from now is recorded at once as sent
-- at the place (claimed: no claim statement follows), without `p_extra_ms`. Returns `sent`.
CREATE FUNCTION sluice_book_rate(p_keys text[], p_sizes integer[], p_spans_ms double precision[],
                                 p_lead_ms double precision, p_max_wait_ms double precision,
                                 p_extra_ms double precision, p_claim_within_ms double precision)
RETURNS TABLE (wait_ms double precision, at_ms double precision, now_ms double precision, ids bigint[],
               sent boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now double precision;
  v_at double precision;
  v_sent boolean;
  v_ids bigint[];
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  INSERT INTO rate_limits (key, tat_ms)
  SELECT u.k, 0 FROM unnest(p_keys) AS u(k) ORDER BY u.k
  ON CONFLICT (key) DO NOTHING;
  PERFORM 1 FROM rate_limits l WHERE l.key = ANY(p_keys) ORDER BY l.key FOR UPDATE;
  v_now := extract(epoch FROM clock_timestamp())::double precision * 1000;
  DELETE FROM rate_log g USING unnest(p_keys, p_spans_ms) AS u(k, w)
  WHERE g.key = u.k AND g.at_ms <= v_now - u.w;
  SELECT greatest(v_now + p_lead_ms, max(l.tat_ms), max(nth.at_ms + u.w)) INTO v_at
  FROM unnest(p_keys, p_sizes, p_spans_ms) AS u(k, n, w)
  JOIN rate_limits l ON l.key = u.k
  LEFT JOIN LATERAL (
    SELECT g.at_ms FROM rate_log g WHERE g.key = u.k ORDER BY g.at_ms DESC OFFSET u.n - 1 LIMIT 1
  ) nth ON true;
  IF v_at - v_now > p_max_wait_ms THEN
    RETURN QUERY SELECT v_at - v_now, NULL::double precision, v_now, NULL::bigint[], false;
    RETURN;
  END IF;
  v_sent := v_at - v_now <= p_claim_within_ms;
  WITH ins AS (
    INSERT INTO rate_log (key, at_ms, sent)
    SELECT u.k, CASE WHEN v_sent THEN v_at ELSE v_at + p_extra_ms END, v_sent FROM unnest(p_keys) AS u(k)
    RETURNING id
  )
  SELECT array_agg(id) INTO v_ids FROM ins;
  RETURN QUERY SELECT v_at - v_now, v_at, v_now, v_ids, v_sent;
END $$;
