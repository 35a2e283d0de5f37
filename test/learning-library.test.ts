import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { syncLibrary } from '../src/learning/library.ts';
import { PATTERNS_DIR } from '../src/learning/pattern-file.ts';
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
});
