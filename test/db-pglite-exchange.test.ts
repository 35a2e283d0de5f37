import type { PGlite } from '@electric-sql/pglite';
import { types } from '@electric-sql/pglite';
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { openDb } from '../src/db/open-db.ts';
import { prepared, preparedName } from '../src/db/prepared.ts';

/**
 * src/db/pglite-exchange.ts: the embedded database's own statement path (one protocol exchange,
 * hot texts prepared once) must give what PGlite's `query()` gives, value for value and error for error.
 */
describe('PGlite statements', () => {
  let db: (Db & { pglite: PGlite }) | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
  });
  const open = async () => {
    db = (await openDb({ memory: true })) as Db & { pglite: PGlite };
    await db.exec(
      'CREATE TABLE t (id serial PRIMARY KEY, k text UNIQUE, j jsonb, a text[], n bigint, c numeric, at timestamptz, b boolean)',
    );
    return db;
  };
  const parsers = { [types.NUMERIC]: (v: string) => Number.parseFloat(v) };

  it('stores and returns every kind of value exactly as PGlite query() does', async () => {
    const d = await open();
    const at = new Date('2026-12-03T10:11:12.345Z');
    const insert = 'INSERT INTO t (k, j, a, n, c, at, b) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *';
    const rowsVia = async (k: string, via: 'db' | 'pglite') => {
      const params = [
        k,
        { x: [1, 'two', null], q: 'it\'s "quoted"' },
        ['a', 'b,c', 'd"e', null],
        12,
        1.25,
        at,
        true,
      ];
      return via === 'db'
        ? (await d.query(insert, params)).rows
        : (await d.pglite.query(insert, params, { parsers })).rows;
    };
    const mine = (await rowsVia('one', 'db'))[0] as Record<string, unknown>;
    const theirs = (await rowsVia('two', 'pglite'))[0] as Record<string, unknown>;
    expect({ ...mine, id: 0, k: '' }).toEqual({ ...theirs, id: 0, k: '' });
    expect(mine).toMatchObject({ k: 'one', n: 12, c: 1.25, b: true, a: ['a', 'b,c', 'd"e', null] });
    expect(mine.at).toEqual(at);
    // A JSON array for a jsonb parameter, and nulls.
    const r = await d.query<{ j: unknown; n: unknown }>('SELECT $1::jsonb AS j, $2::int AS n', [
      [1, { a: 2 }],
      null,
    ]);
    expect(r.rows).toEqual([{ j: [1, { a: 2 }], n: null }]);
    // Row counts of writes; an empty result.
    expect(
      (await d.query('UPDATE t SET b = false WHERE k = ANY($1::text[])', [['one', 'two']])).rowCount,
    ).toBe(2);
    expect((await d.query('SELECT * FROM t WHERE k = $1', ['none'])).rows).toEqual([]);
  });

  it('prepares a marked text once and runs it again after an error', async () => {
    const d = await open();
    const text = prepared('INSERT INTO t (k) VALUES ($1) RETURNING id');
    await d.query(text, ['a']);
    await d.query(text, ['b']);
    const names = await d.query<{ name: string }>('SELECT name FROM pg_prepared_statements');
    expect(names.rows.map((r) => r.name)).toContain(preparedName(text));
    const err = await d.query(text, ['a']).catch((e: unknown) => e as { code?: string; query?: string });
    expect(err).toMatchObject({ code: '23505', query: text });
    expect((await d.query<{ id: number }>(text, ['c'])).rows[0]?.id).toBeGreaterThan(0);
    const bad = await d.query('SELEC 1').catch((e: unknown) => e as { code?: string });
    expect(bad).toMatchObject({ code: '42601' });
  });

  it('keeps statements outside a transaction out of it, and rolls it back whole', async () => {
    const d = await open();
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    let inserted: () => void = () => {};
    const insertedInside = new Promise<void>((r) => {
      inserted = r;
    });
    const tx = d
      .transaction(async (q) => {
        await q.query('INSERT INTO t (k) VALUES ($1)', ['inside']);
        inserted();
        await held;
        throw new Error('roll back');
      })
      .catch((e: unknown) => e);
    await insertedInside;
    // Issued while the transaction is open: it must wait, not run inside it (and not see its row).
    const outside = d.query<{ n: number }>('SELECT count(*)::int AS n FROM t');
    setTimeout(release, 50);
    expect(await tx).toBeInstanceOf(Error);
    expect((await outside).rows[0]?.n).toBe(0);
  });

  it('describes a text again after DDL changed its parameter type', async () => {
    const d = await open();
    await d.exec('CREATE TABLE u (v text)');
    const text = 'INSERT INTO u (v) VALUES ($1)';
    await d.query(text, ['plain']);
    await d.exec('ALTER TABLE u ALTER COLUMN v TYPE jsonb USING to_jsonb(v)');
    await d.query(text, [{ a: 1 }]);
    const rows = await d.query<{ v: unknown }>('SELECT v FROM u ORDER BY v::text');
    expect(rows.rows.map((r) => r.v)).toEqual(['plain', { a: 1 }]);
  });
});
