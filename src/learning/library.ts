import type { Db, Queryable } from '../db/db.ts';
import { storeLibraryStamp } from './library-stamp.ts';
import {
  type EntryFile,
  PATTERNS_DIR,
  type PatternFile,
  type ReadFiles,
  readLibrary,
} from './pattern-file.ts';

/**
 * Writes the library's files into the database: built-in patterns and entries are updated from their
 * files (rows a person created or `sluice patterns extract` made are never touched), and each version
 * is stored once, as a snapshot: a released version never changes under the deployments that used it.
 */
export interface SyncResult {
  patterns: number;
  versions: number;
  entries: number;
}

/** A pattern's columns as $1…$13 (slug, name, category, … criteria), in the order both statements below use. */
function patternParams(p: PatternFile): unknown[] {
  return [
    p.slug,
    p.name,
    p.category,
    p.use_case.trim(),
    p.context.industries,
    p.context.stages,
    p.context.company_size ?? null,
    p.sequence.join('\n'),
    p.failure_modes,
    p.tags,
    p.signature,
    JSON.stringify(p.documented),
    JSON.stringify(p.criteria),
  ];
}

export async function upsertPattern(
  db: Queryable,
  p: PatternFile,
  origin: 'builtin' | 'user' | 'extracted',
): Promise<{ id: number; versionsAdded: number }> {
  // unchanged (every learning command syncs the built-in library): a read, no write. The INSERT … ON
  // CONFLICT below computes the row's search vector before it finds the conflict, which made the sync
  // most of a command's refresh on a cold process.
  const same = await db.query<{ id: number; have: number }>(
    `SELECT p.id, (SELECT count(*) FROM pattern_versions v
                    WHERE v.pattern_id = p.id AND v.version = ANY($14::text[]))::int AS have
       FROM patterns p
      WHERE p.slug = $1 AND p.origin = $15
        AND (p.name, p.category, p.use_case, p.industries, p.stages, p.company_size, p.architecture,
             p.failure_modes, p.tags, p.signature, p.documented, p.criteria)
            IS NOT DISTINCT FROM
            ($2::text, $3::text, $4::text, $5::text[], $6::text[], $7::text, $8::text, $9::text[], $10::text[],
             $11::boolean, $12::jsonb, $13::jsonb)`,
    [...patternParams(p), p.versions.map((v) => v.version), origin],
  );
  const hit = same.rows[0];
  if (hit && hit.have === new Set(p.versions.map((v) => v.version)).size)
    return { id: Number(hit.id), versionsAdded: 0 };
  const r = await db.query<{ id: number }>(
    `INSERT INTO patterns (slug, name, category, use_case, industries, stages, company_size, architecture,
                           failure_modes, tags, signature, documented, criteria, origin)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, category = EXCLUDED.category,
       use_case = EXCLUDED.use_case, industries = EXCLUDED.industries, stages = EXCLUDED.stages,
       company_size = EXCLUDED.company_size, architecture = EXCLUDED.architecture,
       failure_modes = EXCLUDED.failure_modes, tags = EXCLUDED.tags, signature = EXCLUDED.signature,
       documented = EXCLUDED.documented, criteria = EXCLUDED.criteria, updated_at = now()
       WHERE patterns.origin = EXCLUDED.origin
         -- unchanged files write nothing (every learning command syncs: rewriting the rows and their
         -- search columns each time took most of a retrospective's refresh)
         AND (patterns.name, patterns.category, patterns.use_case, patterns.industries, patterns.stages,
              patterns.company_size, patterns.architecture, patterns.failure_modes, patterns.tags,
              patterns.signature, patterns.documented, patterns.criteria)
             IS DISTINCT FROM
             (EXCLUDED.name, EXCLUDED.category, EXCLUDED.use_case, EXCLUDED.industries, EXCLUDED.stages,
              EXCLUDED.company_size, EXCLUDED.architecture, EXCLUDED.failure_modes, EXCLUDED.tags,
              EXCLUDED.signature, EXCLUDED.documented, EXCLUDED.criteria)
     RETURNING id`,
    [...patternParams(p), origin],
  );
  const id =
    r.rows[0]?.id ??
    (await db.query<{ id: number }>('SELECT id FROM patterns WHERE slug = $1', [p.slug])).rows[0]!.id;
  let versionsAdded = 0;
  for (const v of p.versions) {
    const ins = await db.query(
      `INSERT INTO pattern_versions (pattern_id, version, released_on, changelog, pipeline_template,
                                     sync_template, sequence_template, params)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (pattern_id, version) DO NOTHING`,
      [
        id,
        v.version,
        v.releasedOn,
        v.changelog,
        v.pipelineTemplate,
        v.syncTemplate,
        v.sequenceTemplate,
        JSON.stringify(v.params),
      ],
    );
    versionsAdded += ins.rowCount;
  }
  return { id, versionsAdded };
}

export async function upsertEntry(
  db: Queryable,
  e: EntryFile,
  origin: 'builtin' | 'user' | 'extracted',
): Promise<void> {
  const same = await db.query(
    `SELECT 1 FROM intelligence_entries e
      WHERE e.slug = $1 AND e.origin = $12
        AND (e.type, e.title, e.body, e.confidence, e.tags, e.industries, e.stages, e.related_patterns,
             e.related_engagements, e.evidence)
            IS NOT DISTINCT FROM
            ($2::text, $3::text, $4::text, $5::text, $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
             $11::jsonb)`,
    [
      e.slug,
      e.type,
      e.title,
      e.body,
      e.confidence ?? null,
      e.tags,
      e.industries,
      e.stages,
      e.related_patterns,
      e.related_engagements,
      JSON.stringify(e.evidence),
      origin,
    ],
  );
  if (same.rows.length) return;
  await db.query(
    `INSERT INTO intelligence_entries (slug, type, title, body, confidence, tags, industries, stages,
                                       related_patterns, related_engagements, evidence, origin)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (slug) DO UPDATE SET type = EXCLUDED.type, title = EXCLUDED.title, body = EXCLUDED.body,
       confidence = EXCLUDED.confidence, tags = EXCLUDED.tags, industries = EXCLUDED.industries,
       stages = EXCLUDED.stages, related_patterns = EXCLUDED.related_patterns,
       related_engagements = EXCLUDED.related_engagements, evidence = EXCLUDED.evidence, updated_at = now()
       WHERE intelligence_entries.origin = EXCLUDED.origin
         AND (intelligence_entries.type, intelligence_entries.title, intelligence_entries.body,
              intelligence_entries.confidence, intelligence_entries.tags, intelligence_entries.industries,
              intelligence_entries.stages, intelligence_entries.related_patterns,
              intelligence_entries.related_engagements, intelligence_entries.evidence)
             IS DISTINCT FROM
             (EXCLUDED.type, EXCLUDED.title, EXCLUDED.body, EXCLUDED.confidence, EXCLUDED.tags,
              EXCLUDED.industries, EXCLUDED.stages, EXCLUDED.related_patterns, EXCLUDED.related_engagements,
              EXCLUDED.evidence)`,
    [
      e.slug,
      e.type,
      e.title,
      e.body,
      e.confidence ?? null,
      e.tags,
      e.industries,
      e.stages,
      e.related_patterns,
      e.related_engagements,
      JSON.stringify(e.evidence),
      origin,
    ],
  );
}

/**
 * Loads the built-in library (`patterns/`) into the database; cheap and idempotent. Stamps what it read
 * (library-stamp.ts), so the next learning refresh skips it when nothing changed.
 */
export async function syncLibrary(db: Db, root = PATTERNS_DIR): Promise<SyncResult> {
  const read: ReadFiles = new Map();
  const lib = await readLibrary(root, read);
  return db.transaction(async (tx) => {
    let versions = 0;
    for (const p of lib.patterns) versions += (await upsertPattern(tx, p, 'builtin')).versionsAdded;
    for (const e of lib.entries) await upsertEntry(tx, e, 'builtin');
    await storeLibraryStamp(tx, root, read);
    return { patterns: lib.patterns.length, versions, entries: lib.entries.length };
  });
}
