import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { syncLibrary } from '../src/learning/library.ts';
import { libraryUnchanged } from '../src/learning/library-stamp.ts';
import { PATTERNS_DIR } from '../src/learning/pattern-file.ts';
import { refreshLearning } from '../src/learning/refresh.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';

describeEachBackend('library sync', (backend) => {
  let db: Db;
  let root: string;
  beforeAll(async () => {
    db = await openTestDb(backend);
    root = await mkdtemp(join(tmpdir(), 'sluice-library-'));
    await cp(join(PATTERNS_DIR, 'enterprise-contact-waterfall'), join(root, 'enterprise-contact-waterfall'), {
      recursive: true,
    });
    await cp(join(PATTERNS_DIR, 'intelligence'), join(root, 'intelligence'), { recursive: true });
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await rm(root, { recursive: true, force: true });
  });

  const row = async () =>
    (
      await db.query<{ name: string; updated: string; title: string; entry_updated: string }>(
        `SELECT p.name, p.updated_at::text AS updated, e.title, e.updated_at::text AS entry_updated
           FROM patterns p, intelligence_entries e
          WHERE p.slug = 'enterprise-contact-waterfall' AND e.slug = 'catch-all-domains'`,
      )
    ).rows[0]!;

  it('writes nothing for unchanged files and updates a changed pattern or entry', async () => {
    expect(await syncLibrary(db, root)).toMatchObject({ patterns: 1, versions: 1, entries: 2 });
    const first = await row();
    await new Promise((r) => setTimeout(r, 20));
    expect(await syncLibrary(db, root)).toMatchObject({ versions: 0 });
    expect(await row()).toEqual(first); // not even updated_at moved
    const file = join(root, 'enterprise-contact-waterfall', 'pattern.yaml');
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace(
        'name: Enterprise Contact Enrichment Waterfall',
        'name: Enterprise Contact Waterfall (renamed)',
      ),
    );
    const entry = join(root, 'intelligence', 'catch-all-domains.md');
    const text = await readFile(entry, 'utf8');
    await writeFile(entry, text.replace(/^title: .*$/m, 'title: Catch-all domains (renamed)'));
    await syncLibrary(db, root);
    const after = await row();
    expect(after.name).toBe('Enterprise Contact Waterfall (renamed)');
    expect(after.updated).not.toBe(first.updated);
    expect(after.title).toBe('Catch-all domains (renamed)');
    expect(after.entry_updated).not.toBe(first.entry_updated);
  });

  it('stamps what it read, templates outside the library included, and sees any change', async () => {
    // patterns/golf-courses names its template as ../../pipelines/golf-courses.yaml: outside the library
    const top = await mkdtemp(join(tmpdir(), 'sluice-stamp-'));
    try {
      const lib = join(top, 'patterns');
      await mkdir(join(top, 'pipelines'), { recursive: true });
      await cp(join(PATTERNS_DIR, 'golf-courses'), join(lib, 'golf-courses'), { recursive: true });
      const template = join(top, 'pipelines', 'golf-courses.yaml');
      await cp(join(PATTERNS_DIR, '..', 'pipelines', 'golf-courses.yaml'), template);
      expect(await libraryUnchanged(db, lib)).toBe(false); // never synced from here
      await syncLibrary(db, lib);
      expect(await libraryUnchanged(db, lib)).toBe(true);
      expect(await libraryUnchanged(db, root)).toBe(false); // another library

      await appendFile(template, '# edited\n');
      expect(await libraryUnchanged(db, lib)).toBe(false);
      await syncLibrary(db, lib);
      expect(await libraryUnchanged(db, lib)).toBe(true);

      await mkdir(join(lib, 'intelligence'));
      await cp(
        join(PATTERNS_DIR, 'intelligence', 'catch-all-domains.md'),
        join(lib, 'intelligence', 'new.md'),
      );
      expect(await libraryUnchanged(db, lib)).toBe(false); // a new file
      await syncLibrary(db, lib);
      expect(await libraryUnchanged(db, lib)).toBe(true);

      await rm(template);
      expect(await libraryUnchanged(db, lib)).toBe(false); // a file gone
      await cp(join(PATTERNS_DIR, '..', 'pipelines', 'golf-courses.yaml'), template);
      await syncLibrary(db, lib);
      expect(await libraryUnchanged(db, lib)).toBe(true);

      // the rows changed behind the files' back (a restored or edited database): synced again
      await db.query(
        "UPDATE intelligence_entries SET updated_at = now() + interval '1 s' WHERE slug = 'new'",
      );
      expect(await libraryUnchanged(db, lib)).toBe(false);
    } finally {
      await rm(top, { recursive: true, force: true });
    }
  });

  it('refreshLearning skips the library and the verifier feed when their inputs did not change', async () => {
    const first = await refreshLearning(db);
    expect(first.librarySynced).toBe(true); // the last sync was of another folder
    const second = await refreshLearning(db);
    expect(second).toMatchObject({ librarySynced: false, outcomesFed: false });
    // a value written is a new input for the verifier feed
    const acc = await db.query<{ id: number }>(
      "INSERT INTO accounts (name, domain) VALUES ('Stamp Co', 'stamp.example') RETURNING id",
    );
    await db.query(
      `INSERT INTO field_values (entity_type, entity_id, field, value, source) VALUES ('account', $1, 'name', '"Stamp Co"', 'import')`,
      [acc.rows[0]!.id],
    );
    expect(await refreshLearning(db)).toMatchObject({ librarySynced: false, outcomesFed: true });
    expect(await refreshLearning(db)).toMatchObject({ librarySynced: false, outcomesFed: false });
  });
});
