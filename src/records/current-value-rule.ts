/**
 * The current-value rule, in one place. Of all field_values rows of one (entity, field), the current
 * value is the first in this order:
 *
 * 1. `manual` (most recent first) — a person's edit beats everything;
 * 2. `crm` (most recent first) — the system of record;
 * 3. `provider` / `step` with confidence null or >= 0.5 (most recent first) — enrichment overrides imports;
 * 4. `import`, and records given to the API (`api`) or by inbound webhooks (`rb2b`, `webhook`) (EARLIEST
 *    first) — a re-import or a duplicate row only fills fields that are still empty;
 * 5. `provider` / `step` with confidence < 0.5 (most recent first) — used only when nothing else exists.
 *
 * Ties (same observed_at, e.g. one transaction) go to the later row for ranks 1–3 and 5, the earlier for 4.
 * A JSON null as the winning value clears the field (e.g. a manual "remove this phone").
 */
export const CONFIDENCE_THRESHOLD = 0.5;

/** SQL rank of a field_values row `fv` (lower wins). */
export const RANK_SQL = `CASE
    WHEN fv.source = 'manual' THEN 1
    WHEN fv.source = 'crm' THEN 2
    WHEN fv.source IN ('provider', 'step') AND (fv.confidence IS NULL OR fv.confidence >= ${CONFIDENCE_THRESHOLD}) THEN 3
    WHEN fv.source IN ('import', 'api', 'rb2b', 'webhook') THEN 4
    ELSE 5
  END`;

/**
 * ORDER BY tail that puts the current row of each (entity_type, entity_id, field) group first; use with
 * `SELECT DISTINCT ON (fv.entity_type, fv.entity_id, fv.field) ... ORDER BY fv.entity_type, fv.entity_id,
 * fv.field, ${CURRENT_ORDER_SQL}`.
 */
export const CURRENT_ORDER_SQL = `${RANK_SQL},
  CASE WHEN fv.source IN ('import', 'api', 'rb2b', 'webhook') THEN fv.observed_at END ASC NULLS LAST,
  fv.observed_at DESC,
  CASE WHEN fv.source IN ('import', 'api', 'rb2b', 'webhook') THEN fv.id END ASC NULLS LAST,
  fv.id DESC`;
