/**
 * The current-value rule, in one place. Of all field_values rows of one (entity, field), the current
 * value is the first in this order:
 *
 * 1. `manual` (most recent first) — a person's edit beats everything;
 * 2. `crm` on a field reps own (REP_OWNED_FIELDS: owner, stage, status, notes…; most recent first) —
 *    the rep's word, which enrichment never overrides;
 * 3. `provider` / `step` with confidence null or >= 0.5 (most recent first) that is new evidence: no
 *    `crm` value of the field exists, or this value was first observed by enrichment after every `crm`
 *    value of the field — enrichment overrides imports, and newer evidence overrides a rep's correction;
 * 4. `crm` on any other field (most recent first) — a rep's correction beats what enrichment already
 *    knew when the rep made it, so re-running a pipeline (a cache hit, a provider that still says the old
 *    phone) does not undo it;
 * 5. `provider` / `step`, confident, that is not new evidence (most recent first);
 * 6. `import`, and records given to the API (`api`) or by inbound webhooks (`rb2b`, `webhook`) (EARLIEST
 *    first) — a re-import or a duplicate row only fills fields that are still empty;
 * 7. `provider` / `step` with confidence < 0.5 (most recent first) — used only when nothing else exists.
 *
 * Ties (same observed_at, e.g. one transaction) go to the later row, the earlier for rank 6.
 * A JSON null as the winning value clears the field (e.g. a manual "remove this phone").
 * The "new evidence" test reads the field's other rows (an index range of field_values_entity_idx), and
 * only for confident enrichment rows of a field that has a `crm` value.
 */
export const CONFIDENCE_THRESHOLD = 0.5;

/** Fields whose CRM value always beats enrichment (reps win; docs/sync.md "Two-way"). */
export const REP_OWNED_FIELDS = ['owner', 'stage', 'status', 'notes', 'deal_stage', 'lead_status'] as const;

const REP_OWNED_SQL = REP_OWNED_FIELDS.map((f) => `'${f}'`).join(', ');
const UNORDERED_SOURCES = `('import', 'api', 'rb2b', 'webhook')`;

/** True for a confident enrichment row `fv` first seen after every crm value of its field. */
const NEW_EVIDENCE_SQL = `NOT EXISTS (
      SELECT 1 FROM field_values c
       WHERE c.entity_type = fv.entity_type AND c.entity_id = fv.entity_id AND c.field = fv.field
         AND c.source = 'crm'
         AND EXISTS (SELECT 1 FROM field_values e
                      WHERE e.entity_type = fv.entity_type AND e.entity_id = fv.entity_id AND e.field = fv.field
                        AND e.source IN ('provider', 'step') AND e.value = fv.value
                        AND e.observed_at <= c.observed_at))`;

/** SQL rank of a field_values row `fv` (lower wins). */
export const RANK_SQL = `CASE
    WHEN fv.source = 'manual' THEN 1
    WHEN fv.source = 'crm' AND fv.field IN (${REP_OWNED_SQL}) THEN 2
    WHEN fv.source = 'crm' THEN 4
    WHEN fv.source IN ('provider', 'step') AND (fv.confidence IS NULL OR fv.confidence >= ${CONFIDENCE_THRESHOLD}) THEN
      CASE WHEN ${NEW_EVIDENCE_SQL} THEN 3 ELSE 5 END
    WHEN fv.source IN ${UNORDERED_SOURCES} THEN 6
    ELSE 7
  END`;

/**
 * ORDER BY tail that puts the current row of each (entity_type, entity_id, field) group first; use with
 * `SELECT DISTINCT ON (fv.entity_type, fv.entity_id, fv.field) ... ORDER BY fv.entity_type, fv.entity_id,
 * fv.field, ${CURRENT_ORDER_SQL}`.
 */
export const CURRENT_ORDER_SQL = `${RANK_SQL},
  CASE WHEN fv.source IN ${UNORDERED_SOURCES} THEN fv.observed_at END ASC NULLS LAST,
  fv.observed_at DESC,
  CASE WHEN fv.source IN ${UNORDERED_SOURCES} THEN fv.id END ASC NULLS LAST,
  fv.id DESC`;
