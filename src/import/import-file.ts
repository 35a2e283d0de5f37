import { stat } from 'node:fs/promises';
import type { Db } from '../db/db.ts';
import { ConfigError } from '../errors.ts';
import { writeAccountBatch } from './account-batch.ts';
import { writeContactBatch } from './contact-batch.ts';
import type { DetectedEncoding } from './decode-stream.ts';
import { type ColumnTarget, detectKind, type ImportKind, mapHeaders, parseMapOptions } from './header-map.ts';
import { openCsv } from './read-csv.ts';
import {
  type AccountCandidate,
  type ContactCandidate,
  createRowNormalizer,
  type Rejection,
} from './row-normalizer.ts';
import type { RowOutcome } from './write-plan.ts';

export interface ImportOptions {
  /** Path of the CSV file (shown in messages and stored in `imports.file`). */
  file: string;
  /** Default: detected from the headers (contacts when they name people: email, first/last name, title). */
  kind?: ImportKind;
  /** `--map "Header=field"` values; an empty field ignores the column. Default none. */
  map?: string[];
  /** Region for phone numbers without a country code when the row has no country. Default `US`. */
  region?: string;
  /**
   * Rows per transaction / round trip. Default 2500 on server Postgres, 1000 on PGlite (its WebAssembly
   * memory grows to the largest statement and never shrinks).
   */
  batchSize?: number;
  /**
   * Accounts on server Postgres only: batches written at the same time on separate connections.
   * Default 2; PGlite and contacts imports always 1.
   */
  lanes?: number;
  /** Called after every batch with the number of data rows read so far. */
  onProgress?: (rowsRead: number) => void;
}

export interface ImportResult {
  importId: number;
  file: string;
  kind: ImportKind;
  rowsRead: number;
  inserted: number;
  merged: number;
  unchanged: number;
  rejected: number;
  /** The first 1000 rejected rows, by line. */
  errors: Rejection[];
  /** Companies named by a contacts file: created, filled in or already complete. */
  accounts?: { inserted: number; merged: number; unchanged: number };
  encoding: DetectedEncoding;
  delimiter: string;
  /** Where each CSV column went: field, `account.<field>`, or null (ignored). */
  columns: Record<string, string | null>;
  durationMs: number;
}

const MAX_ERRORS = 1000;

function describeTarget(t: ColumnTarget): string | null {
  return t.to === 'ignore' ? null : t.to === 'account' ? `account.${t.field}` : t.field;
}

/**
 * Streams a CSV file into accounts or contacts. Memory stays flat: rows are normalized and written in
 * batches, each batch in one transaction, and the next batch is parsed while the database writes the
 * previous one. Rejected rows are reported with their line and reason; the rest imports. The import
 * and its counts are recorded in `imports`. Importing the same file again adds nothing.
 */
/** Files under this size import in one lane on server Postgres too, so file order decides ties. */
const LANES_MIN_BYTES = 8 * 1024 * 1024;

async function fileSize(file: string): Promise<number> {
  return (await stat(file).catch(() => ({ size: 0 }))).size;
}

export async function importFile(db: Db, options: ImportOptions): Promise<ImportResult> {
  const startedAt = performance.now();
  const csv = await openCsv(options.file);
  const kind = options.kind ?? detectKind(csv.headers);
  const targets = mapHeaders(kind, csv.headers, parseMapOptions(options.map ?? []));
  requireIdentityColumns(options.file, kind, csv.headers, targets);
  const normalizer = createRowNormalizer({
    kind,
    headers: csv.headers,
    targets,
    region: options.region ?? 'US',
  });
  const batchSize = options.batchSize ?? (db.backend === 'pglite' ? 1000 : 2500);
  const started = await db.query<{ id: number }>(
    'INSERT INTO imports (file, kind) VALUES ($1, $2) RETURNING id',
    [options.file, kind],
  );
  const importId = started.rows[0]!.id;
  const counts = { rowsRead: 0, inserted: 0, merged: 0, unchanged: 0, rejected: 0 };
  const accountCounts = { inserted: 0, merged: 0, unchanged: 0 };
  const errors: Rejection[] = [];
  const reject = (r: Rejection) => {
    counts.rejected++;
    if (errors.length < MAX_ERRORS) errors.push(r);
  };
  const tally = (target: Record<RowOutcome, number>, outcomes: RowOutcome[]) => {
    for (const o of outcomes) target[o]++;
  };

  // Server Postgres: rows are spread over `lanes` pipelines by their name (else domain/email) so that two
  // rows of one record always meet in the same lane; each lane writes one batch at a time while the
  // others write theirs on other connections. Two lanes that race to insert the same domain or email
  // (a record named differently in two rows) collide on the unique index: that batch rolls back and is
  // retried, and then finds the other lane's record. PGlite has one connection: one lane.
  // Contacts: one lane, since two lanes could each create the same company that has no domain.
  // Two lanes race: which of two differently named rows of one record is written first (and so keeps its
  // import value) then depends on timing. Files under LANES_MIN_BYTES import in one lane, where file
  // order decides ties exactly; large files trade that tie-break for speed.
  const laneCount = options.lanes ?? ((await fileSize(options.file)) >= LANES_MIN_BYTES ? 2 : 1);
  const lanes = db.backend === 'postgres' && kind === 'accounts' ? Math.max(1, laneCount) : 1;
  let lastProgress = 0;
  const writeBatch = async (batch: (AccountCandidate | ContactCandidate)[]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const outcomes = await db.transaction(async (tx) => {
          // a batch lost in a crash is re-imported by running the import again: no need to wait for the WAL flush
          await tx.query('SET LOCAL synchronous_commit = off');
          if (kind === 'accounts') {
            return {
              rows: (await writeAccountBatch(tx, batch as AccountCandidate[], importId)).outcomes,
              accounts: [],
            };
          }
          const r = await writeContactBatch(tx, batch as ContactCandidate[], importId);
          return { rows: r.outcomes, accounts: r.accountOutcomes };
        });
        tally(counts, outcomes.rows);
        tally(accountCounts, outcomes.accounts);
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (lanes === 1 || attempt >= 10 || (code !== '23505' && code !== '40P01')) throw err;
        await new Promise((r) => setTimeout(r, 20 * attempt));
      }
    }
    if (performance.now() - lastProgress > 1000) {
      lastProgress = performance.now();
      await db.query(
        `UPDATE imports SET rows_read = $2, inserted = $3, merged = $4, unchanged = $5, rejected = $6 WHERE id = $1`,
        [importId, counts.rowsRead, counts.inserted, counts.merged, counts.unchanged, counts.rejected],
      );
    }
    options.onProgress?.(counts.rowsRead);
  };

  // per lane: one batch in flight while the next is parsed, awaited before the next starts (it must see its rows)
  const inFlight: (Promise<void> | undefined)[] = Array.from({ length: lanes }, () => undefined);
  const batches: (AccountCandidate | ContactCandidate)[][] = Array.from({ length: lanes }, () => []);
  const flush = async (lane: number) => {
    const batch = batches[lane]!;
    batches[lane] = [];
    if (batch.length === 0) return;
    if (inFlight[lane]) await inFlight[lane];
    const p = writeBatch(batch);
    inFlight[lane] = p;
    p.catch(() => {}); // rethrown by the next await
  };
  const laneOf = (c: AccountCandidate | ContactCandidate): number => {
    if (lanes === 1) return 0;
    const key =
      kind === 'accounts'
        ? ((c as AccountCandidate).nameState?.split('|')[0] ?? (c as AccountCandidate).domain ?? '')
        : ((c as ContactCandidate).nameKey ?? (c as ContactCandidate).email ?? '');
    let h = 0;
    for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
    return Math.abs(h) % lanes;
  };

  try {
    for await (const row of csv.rows()) {
      if (!('values' in row)) {
        counts.rowsRead++;
        reject(row);
        continue;
      }
      // a row of empty cells (spreadsheets export them at the end) is no row at all
      if (row.values.every((v) => v.trim() === '')) continue;
      counts.rowsRead++;
      const n =
        kind === 'accounts'
          ? normalizer.normalizeAccount(row.line, row.values)
          : normalizer.normalizeContact(row.line, row.values);
      if (!n.ok) {
        reject(n.rejection);
        continue;
      }
      const lane = laneOf(n.candidate);
      batches[lane]!.push(n.candidate);
      if (batches[lane]!.length >= batchSize) await flush(lane);
    }
    for (let lane = 0; lane < lanes; lane++) await flush(lane);
    for (const p of inFlight) if (p) await p;
  } catch (err) {
    await Promise.allSettled(inFlight.map((p) => p ?? Promise.resolve()));
    await db
      .query(`UPDATE imports SET status = 'failed', finished_at = now(), errors = $2::jsonb WHERE id = $1`, [
        importId,
        JSON.stringify(errors),
      ])
      .catch(() => {});
    throw err;
  }
  errors.sort((a, b) => a.line - b.line);
  await db.query(
    `UPDATE imports SET status = 'done', finished_at = now(), rows_read = $2, inserted = $3, merged = $4,
       unchanged = $5, rejected = $6, errors = $7::jsonb WHERE id = $1`,
    [
      importId,
      counts.rowsRead,
      counts.inserted,
      counts.merged,
      counts.unchanged,
      counts.rejected,
      JSON.stringify(errors),
    ],
  );
  const columns: Record<string, string | null> = {};
  csv.headers.forEach((h, i) => {
    columns[h || `(column ${i + 1})`] = describeTarget(targets[i]!);
  });
  return {
    importId,
    file: options.file,
    kind,
    ...counts,
    errors,
    ...(kind === 'contacts' ? { accounts: accountCounts } : {}),
    encoding: csv.encoding(),
    delimiter: csv.delimiter,
    columns,
    durationMs: Math.round(performance.now() - startedAt),
  };
}

/** A file none of whose columns can identify a record would reject every row: say so up front. */
function requireIdentityColumns(
  file: string,
  kind: ImportKind,
  headers: string[],
  targets: ColumnTarget[],
): void {
  const fields = new Set(targets.flatMap((t) => (t.to === 'field' ? [t.field] : [])));
  const needed =
    kind === 'accounts' ? ['name', 'domain', 'website'] : ['email', 'first_name', 'last_name', 'full_name'];
  if (needed.some((f) => fields.has(f))) return;
  throw new ConfigError(
    `${file}: no column identifies ${kind === 'accounts' ? 'a company (name, domain or website)' : 'a person (email or name)'}. ` +
      `Columns found: ${headers.map((h) => JSON.stringify(h)).join(', ')}. ` +
      `Map one with --map, e.g. --map "${headers[0] ?? 'Column'}=${needed[0]}"${kind === 'accounts' ? '' : ', or pass --kind accounts'}.`,
  );
}
