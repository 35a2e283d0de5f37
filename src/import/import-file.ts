import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Db, Queryable } from '../db/db.ts';
import { ConfigError } from '../errors.ts';
import { writeAccountBatch } from './account-batch.ts';
import { writeContactBatch } from './contact-batch.ts';
import type { DetectedEncoding } from './decode-stream.ts';
import {
  type ColumnTarget,
  detectKind,
  type ImportKind,
  mapHeaders,
  parseMapOptions,
  phoneSources,
} from './header-map.ts';
import { type CsvSource, openCsv } from './read-csv.ts';
import {
  type AccountCandidate,
  type ContactCandidate,
  createRowNormalizer,
  type Rejection,
} from './row-normalizer.ts';
import { showText } from './sniff-file.ts';
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
  /**
   * Stops the import between rows: batches already sent finish, nothing more is written, and the
   * import is recorded as `interrupted` with the counts of what was saved.
   */
  signal?: AbortSignal;
  /** A quoted value longer than this is taken for an unclosed quote (read-csv.ts). Default 1 MiB. */
  maxRecordBytes?: number;
}

export interface ImportResult {
  importId: number;
  file: string;
  kind: ImportKind;
  /** `interrupted`: stopped by `signal`; the counts are those of the rows saved. */
  status: 'done' | 'interrupted';
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

/** A file opened and checked, ready to import: everything that needs no database. */
export interface PreparedImport {
  options: ImportOptions;
  csv: CsvSource;
  kind: ImportKind;
  targets: ColumnTarget[];
}

const MAX_ERRORS = 1000;

function describeTarget(t: ColumnTarget): string | null {
  return t.to === 'ignore' ? null : t.to === 'account' ? `account.${t.field}` : t.field;
}

/** Files under this size import in one lane on server Postgres too, so file order decides ties. */
const LANES_MIN_BYTES = 8 * 1024 * 1024;

async function fileSize(file: string): Promise<number> {
  return (await stat(file).catch(() => ({ size: 0 }))).size;
}

/**
 * Opens the file and decides where its columns go, without a database: a missing or non-CSV file, a
 * repeated header, a bad --map or a file no column of which identifies a record fails here, before
 * any database is created or opened.
 */
export async function prepareImport(options: ImportOptions): Promise<PreparedImport> {
  const csv = await openCsv(options.file, { maxRecordBytes: options.maxRecordBytes });
  try {
    const kind = options.kind ?? detectKind(csv.headers);
    let targets: ColumnTarget[];
    try {
      targets = mapHeaders(kind, csv.headers, parseMapOptions(options.map ?? []));
    } catch (err) {
      if (err instanceof ConfigError && err.exitCode === 1)
        throw new ConfigError(`${options.file}: ${err.message}`, { cause: err });
      throw err;
    }
    requireIdentityColumns(options.file, kind, csv.headers, targets);
    return { options, csv, kind, targets };
  } catch (err) {
    csv.close();
    throw err;
  }
}

/** Imports started by this process and not finished: never taken for dead ones. */
const live = new Set<number>();

/** A running import on server Postgres whose process gave no sign of life for this long is dead. */
const STALE_AFTER_MINUTES = 10;

/**
 * Marks imports left `running` by a process that died (a crash, kill -9, a second Ctrl-C) as
 * `interrupted`; their counts are those their batches committed. PGlite has one process per data dir
 * (lock file), so every running import not started by this one is dead. On server Postgres: one from
 * this host whose process is gone, or one with no heartbeat for STALE_AFTER_MINUTES.
 */
export async function markDeadImports(db: Queryable & { backend: Db['backend'] }): Promise<number[]> {
  const running = await db.query<{ id: number; pid: number | null; host: string | null; stale: boolean }>(
    `SELECT id, pid, host,
            coalesce(heartbeat_at, started_at) < now() - make_interval(mins => $1) AS stale
     FROM imports WHERE status = 'running'`,
    [STALE_AFTER_MINUTES],
  );
  const here = hostname();
  const dead = running.rows
    .filter((r) => !live.has(Number(r.id)))
    .filter(
      (r) =>
        db.backend === 'pglite' || r.stale || (r.host === here && r.pid !== null && !processAlive(r.pid)),
    )
    .map((r) => Number(r.id));
  if (dead.length > 0) {
    await db.query(
      `UPDATE imports SET status = 'interrupted', finished_at = coalesce(heartbeat_at, started_at)
       WHERE id = ANY($1::bigint[]) AND status = 'running'`,
      [dead],
    );
  }
  return dead;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The import's row. On PGlite its number is the next after the highest: an identity sequence logs 32
 * values ahead in the WAL, so after a process that did not close the database cleanly the sequence
 * resumes 33 further on (#1, then #34). PGlite has one connection, so max + 1 cannot race. Server
 * Postgres keeps the sequence (concurrent imports; gaps are possible after a crash there too).
 */
async function startImport(db: Db, file: string, kind: ImportKind): Promise<number> {
  const started =
    db.backend === 'pglite'
      ? await db.query<{ id: number }>(
          `INSERT INTO imports (id, file, kind, pid, host, heartbeat_at) OVERRIDING SYSTEM VALUE
           SELECT coalesce(max(id), 0) + 1, $1, $2, $3, $4, now() FROM imports RETURNING id`,
          [file, kind, process.pid, hostname()],
        )
      : await db.query<{ id: number }>(
          `INSERT INTO imports (file, kind, pid, host, heartbeat_at) VALUES ($1, $2, $3, $4, now()) RETURNING id`,
          [file, kind, process.pid, hostname()],
        );
  return Number(started.rows[0]!.id);
}

/**
 * Streams a CSV file into accounts or contacts. Memory stays flat: rows are normalized and written in
 * batches, each batch in one transaction, and the next batch is parsed while the database writes the
 * previous one. Rejected rows are reported with their line and reason; the rest imports. The import
 * and its counts are recorded in `imports`, the counts in the same transaction as each batch, so they
 * are always those of the rows saved. Importing the same file again adds nothing. `prepared`: the
 * result of prepareImport() for these options (the CLI checks the file before opening the database).
 */
export async function importFile(
  db: Db,
  options: ImportOptions,
  prepared?: PreparedImport,
): Promise<ImportResult> {
  const startedAt = performance.now();
  const { csv, kind, targets } = prepared ?? (await prepareImport(options));
  const normalizer = createRowNormalizer({
    kind,
    headers: csv.headers,
    targets,
    region: options.region ?? 'US',
    phoneSources: phoneSources(kind, csv.headers, targets),
  });
  const batchSize = options.batchSize ?? (db.backend === 'pglite' ? 1000 : 2500);
  let importId: number;
  try {
    await markDeadImports(db);
    importId = await startImport(db, options.file, kind);
  } catch (err) {
    csv.close();
    throw err;
  }
  live.add(importId);
  try {
    return await runImport();
  } finally {
    live.delete(importId);
    csv.close();
  }

  async function runImport(): Promise<ImportResult> {
    const counts = { rowsRead: 0, inserted: 0, merged: 0, unchanged: 0, rejected: 0 };
    /** What the committed batches hold (what `imports` says), for an interrupted import. */
    const saved = { rowsRead: 0, inserted: 0, merged: 0, unchanged: 0, rejected: 0 };
    const accountCounts = { inserted: 0, merged: 0, unchanged: 0 };
    const errors: Rejection[] = [];
    // rejections since the last batch was cut: recorded with the next batch
    let pendingRejected = 0;
    let pendingErrors: Rejection[] = [];
    const reject = (r: Rejection) => {
      counts.rejected++;
      pendingRejected++;
      if (errors.length < MAX_ERRORS) {
        errors.push(r);
        pendingErrors.push(r);
      }
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
    interface Batch {
      rows: (AccountCandidate | ContactCandidate)[];
      rejected: number;
      errors: Rejection[];
    }
    const writeBatch = async (batch: Batch) => {
      for (let attempt = 1; ; attempt++) {
        try {
          const outcomes = await db.transaction(async (tx) => {
            // a batch lost in a crash is re-imported by running the import again: no need to wait for the WAL flush
            await tx.query('SET LOCAL synchronous_commit = off');
            let rows: RowOutcome[];
            let accounts: RowOutcome[] = [];
            if (kind === 'accounts') {
              rows = (await writeAccountBatch(tx, batch.rows as AccountCandidate[], importId)).outcomes;
            } else {
              const r = await writeContactBatch(tx, batch.rows as ContactCandidate[], importId);
              rows = r.outcomes;
              accounts = r.accountOutcomes;
            }
            const n = { inserted: 0, merged: 0, unchanged: 0 };
            tally(n, rows);
            // the counts commit with the rows they count
            await tx.query(
              `UPDATE imports SET rows_read = rows_read + $2, inserted = inserted + $3, merged = merged + $4,
                 unchanged = unchanged + $5, rejected = rejected + $6, heartbeat_at = now(),
                 errors = CASE WHEN $7::int = 0 THEN errors ELSE errors || $8::jsonb END
               WHERE id = $1`,
              [
                importId,
                batch.rows.length + batch.rejected,
                n.inserted,
                n.merged,
                n.unchanged,
                batch.rejected,
                batch.errors.length,
                JSON.stringify(batch.errors),
              ],
            );
            return { rows, accounts, n };
          });
          tally(counts, outcomes.rows);
          tally(accountCounts, outcomes.accounts);
          saved.rowsRead += batch.rows.length + batch.rejected;
          saved.rejected += batch.rejected;
          saved.inserted += outcomes.n.inserted;
          saved.merged += outcomes.n.merged;
          saved.unchanged += outcomes.n.unchanged;
          break;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (lanes === 1 || attempt >= 10 || (code !== '23505' && code !== '40P01')) throw err;
          await new Promise((r) => setTimeout(r, 20 * attempt));
        }
      }
      options.onProgress?.(counts.rowsRead);
    };

    // per lane: one batch in flight while the next is parsed, awaited before the next starts (it must see its rows)
    const inFlight: (Promise<void> | undefined)[] = Array.from({ length: lanes }, () => undefined);
    const batches: (AccountCandidate | ContactCandidate)[][] = Array.from({ length: lanes }, () => []);
    const flush = async (lane: number) => {
      const rows = batches[lane]!;
      batches[lane] = [];
      if (rows.length === 0) return;
      const batch: Batch = { rows, rejected: pendingRejected, errors: pendingErrors };
      pendingRejected = 0;
      pendingErrors = [];
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

    let interrupted = false;
    let lastBeat = performance.now();
    try {
      for await (const row of csv.rows()) {
        if (options.signal?.aborted) {
          interrupted = true;
          break;
        }
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
          // a long run of rejected rows writes no batch: still show this import is alive
          if (performance.now() - lastBeat > 60_000) {
            lastBeat = performance.now();
            await db.query('UPDATE imports SET heartbeat_at = now() WHERE id = $1', [importId]);
          }
          continue;
        }
        const lane = laneOf(n.candidate);
        batches[lane]!.push(n.candidate);
        if (batches[lane]!.length >= batchSize) {
          lastBeat = performance.now();
          await flush(lane);
        }
      }
      if (!interrupted) for (let lane = 0; lane < lanes; lane++) await flush(lane);
      for (const p of inFlight) if (p) await p;
    } catch (err) {
      await Promise.allSettled(inFlight.map((p) => p ?? Promise.resolve()));
      await db
        .query(`UPDATE imports SET status = 'failed', finished_at = now() WHERE id = $1`, [importId])
        .catch(() => {});
      throw err;
    }
    const columns: Record<string, string | null> = {};
    csv.headers.forEach((h, i) => {
      columns[h || `(column ${i + 1})`] = describeTarget(targets[i]!);
    });
    const common = {
      importId,
      file: options.file,
      kind,
      ...(kind === 'contacts' ? { accounts: accountCounts } : {}),
      encoding: csv.encoding(),
      delimiter: csv.delimiter,
      columns,
    };
    if (interrupted) {
      await db.query(`UPDATE imports SET status = 'interrupted', finished_at = now() WHERE id = $1`, [
        importId,
      ]);
      const savedErrors = (
        await db.query<{ errors: Rejection[] }>('SELECT errors FROM imports WHERE id = $1', [importId])
      ).rows[0]!.errors.sort((a, b) => a.line - b.line);
      return {
        ...common,
        status: 'interrupted',
        ...saved,
        errors: savedErrors,
        durationMs: Math.round(performance.now() - startedAt),
      };
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
    return {
      ...common,
      status: 'done',
      ...counts,
      errors,
      durationMs: Math.round(performance.now() - startedAt),
    };
  }
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
      `Columns found: ${headers.map((h) => showText(h)).join(', ')}. ` +
      `Map one with --map, e.g. --map "${mapExample(headers[0])}=${needed[0]}"${kind === 'accounts' ? '' : ', or pass --kind accounts'}.`,
  );
}

/** A header as written in a suggested `--map`: itself when plain printable text, else its position. */
function mapExample(header: string | undefined): string {
  if (header === undefined || header === '') return '#1';
  return /^[\p{L}\p{N}\p{P}\p{Zs}\p{S}]{1,60}$/u.test(header) && !header.includes('"') ? header : '#1';
}
