import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Queryable } from '../db/db.ts';

/**
 * Whether the built-in library changed since it was last loaded, without parsing it: the refresh every
 * learning command runs first skips the sync (and loading the YAML and schema code) when nothing did.
 *
 * The stamp (`learning_refresh_state`, name `library`) is the manifest of every file the last sync read,
 * each with its sha256: the `pattern.yaml` and entry files found by listing the library, and the
 * templates they name, which may live outside it (`pipeline: ../../pipelines/golf-courses.yaml`). It is
 * unchanged when no listed file appeared, went or changed, no file of the manifest changed, and the
 * built-in rows in the database are as the sync left them (a fingerprint of counts and update times: a
 * restored or edited database syncs again).
 */
export const LIBRARY_DIR = fileURLToPath(new URL('../../patterns/', import.meta.url));

interface LibraryStamp {
  root: string;
  files: Record<string, string>;
  rows: string;
}

const sha = (text: string | null) =>
  text === null ? 'missing' : createHash('sha256').update(text).digest('hex');

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      return null;
    throw err;
  }
}

/** The files a sync starts from: every `<slug>/pattern.yaml` and `intelligence/*.md` (as readLibrary lists them). */
async function listedFiles(root: string): Promise<string[]> {
  const dirs = await readdir(root, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const files: string[] = [];
  for (const d of dirs) {
    if (!d.isDirectory()) continue;
    if (d.name === 'intelligence') {
      for (const f of await readdir(join(root, d.name)))
        if (f.endsWith('.md')) files.push(resolve(root, d.name, f));
    } else files.push(resolve(root, d.name, 'pattern.yaml'));
  }
  return files.sort();
}

/** The built-in rows as a sync leaves them: counts and newest update of patterns, versions and entries. */
async function rowFingerprint(db: Queryable): Promise<string> {
  const r = await db.query<{ f: string }>(
    `SELECT concat_ws('/',
              (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM patterns WHERE origin = 'builtin'),
              (SELECT count(*) FROM pattern_versions v JOIN patterns p ON p.id = v.pattern_id WHERE p.origin = 'builtin'),
              (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM intelligence_entries WHERE origin = 'builtin')) AS f`,
  );
  return r.rows[0]!.f;
}

async function storedStamp(db: Queryable): Promise<LibraryStamp | null> {
  const r = await db.query<{ stamp: string }>(
    "SELECT stamp FROM learning_refresh_state WHERE name = 'library'",
  );
  if (!r.rows[0]) return null;
  try {
    return JSON.parse(r.rows[0].stamp) as LibraryStamp;
  } catch {
    return null;
  }
}

/** True when the library at `root` and its built-in rows are as the last stamped sync left them. */
export async function libraryUnchanged(db: Queryable, root = LIBRARY_DIR): Promise<boolean> {
  const stamp = await storedStamp(db);
  if (!stamp || stamp.root !== resolve(root)) return false;
  const listed = await listedFiles(root);
  if (listed.some((f) => !Object.hasOwn(stamp.files, f))) return false;
  for (const [file, hash] of Object.entries(stamp.files))
    if (sha(await readOrNull(file)) !== hash) return false;
  return (await rowFingerprint(db)) === stamp.rows;
}

/**
 * Records what a sync of `root` read (`read`: path → text, templates included), so the next refresh can
 * tell whether anything changed. Called by syncLibrary after its transaction.
 */
export async function storeLibraryStamp(
  db: Queryable,
  root: string,
  read: ReadonlyMap<string, string>,
): Promise<void> {
  const files: Record<string, string> = {};
  for (const [file, text] of [...read].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))
    files[resolve(file)] = sha(text);
  // a listed file the sync did not read (it failed before reaching it) is absent, so the next check fails
  const stamp: LibraryStamp = { root: resolve(root), files, rows: await rowFingerprint(db) };
  await db.query(
    `INSERT INTO learning_refresh_state (name, stamp) VALUES ('library', $1)
     ON CONFLICT (name) DO UPDATE SET stamp = EXCLUDED.stamp, updated_at = now()`,
    [JSON.stringify(stamp)],
  );
}
