import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { loadMigrations, migrate } from '../src/db/migrate.ts';
import { openDb } from '../src/db/open-db.ts';
import { ConfigError } from '../src/errors.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';

describeEachBackend('database', (backend) => {
  let db: Db | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
  });

  it('applies every migration once and records it', async () => {
    db = await openTestDb(backend);
    const files = await loadMigrations();
    const rows = await db.query<{ name: string }>('SELECT name FROM sluice_migrations ORDER BY id');
    expect(rows.rows.map((r) => r.name)).toEqual(files.map((f) => f.name));
    expect(await migrate(db)).toEqual([]);
  });

  it('commits a transaction that resolves and rolls back one that throws', async () => {
    db = await openTestDb(backend);
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO accounts (name) VALUES ($1)', ['Kept']);
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO accounts (name) VALUES ($1)', ['Lost']);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const names = await db.query<{ name: string }>('SELECT name FROM accounts');
    expect(names.rows.map((r) => r.name)).toEqual(['Kept']);
  });

  it('returns counts and costs as numbers on both backends', async () => {
    db = await openTestDb(backend);
    const r = await db.query<{ n: number; c: number }>('SELECT count(*) AS n, 1.25::numeric AS c');
    expect(r.rows[0]).toEqual({ n: 1, c: 1.25 });
  });
});

describe('embedded data dir', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'sluice-lock-'));
    dirs.push(d);
    return d;
  };

  it('refuses a second process with "in use by pid N", and keeps the data', async () => {
    const dir = tempDir();
    const db = await openDb({ dataDir: dir });
    try {
      await db.query('INSERT INTO accounts (name) VALUES ($1)', ['Keep me']);
      const child = spawn(process.execPath, ['bin/sluice.js', 'status', '--data-dir', dir], {
        stdio: 'pipe',
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(code).toBe(1);
      expect(stderr).toContain(`in use by pid ${process.pid}`);
    } finally {
      await db.close();
    }
    const again = await openDb({ dataDir: dir });
    const rows = await again.query<{ name: string }>('SELECT name FROM accounts');
    expect(rows.rows).toEqual([{ name: 'Keep me' }]);
    await again.close();
  });

  it('takes over a lock left by a dead process', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'lock'), '999999999');
    const db = await openDb({ dataDir: dir });
    expect(readFileSync(join(dir, 'lock'), 'utf8')).toBe(String(process.pid));
    await db.close();
  });

  it('in-process: a second open of the same dir fails with a ConfigError', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'lock'), String(process.ppid));
    await expect(openDb({ dataDir: dir })).rejects.toBeInstanceOf(ConfigError);
  });

  it('vacuums on open and records when', async () => {
    const dir = tempDir();
    const db = await openDb({ dataDir: dir });
    const r = await db.query<{ task: string }>('SELECT task FROM sluice_maintenance');
    expect(r.rows).toEqual([{ task: 'vacuum' }]);
    await db.close();
  });
});
