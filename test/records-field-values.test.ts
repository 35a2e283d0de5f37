import { describe, expect, it } from 'vitest';
import type { Db } from '../src/db/db.ts';
import { CriticalError } from '../src/errors.ts';
import { type FieldObservation, writeFieldValues } from '../src/records/field-values.ts';
import { readCurrentFieldValues, readRecord } from '../src/records/read-records.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { emptiedTestDb } from './helpers/empty-db.ts';

async function newAccount(db: Db, name: string | null = null): Promise<number> {
  const r = await db.query<{ id: number }>('INSERT INTO accounts (name) VALUES ($1) RETURNING id', [name]);
  return r.rows[0]!.id;
}

async function newContact(db: Db): Promise<number> {
  const r = await db.query<{ id: number }>('INSERT INTO contacts DEFAULT VALUES RETURNING id');
  return r.rows[0]!.id;
}

const acct = (entityId: number, field: string, value: unknown, rest: Partial<FieldObservation> = {}) =>
  ({ entityType: 'account', entityId, field, value, source: 'import', ...rest }) as FieldObservation;

describeEachBackend('writeFieldValues', (backend) => {
  const db = emptiedTestDb(backend);

  it('materializes columns and puts other fields in attributes', async () => {
    const id = await newAccount(db);
    await db.transaction((tx) =>
      writeFieldValues(tx, [
        acct(id, 'name', 'Pebble Beach Golf Links, Inc.'),
        acct(id, 'domain', 'pebblebeach.com'),
        acct(id, 'holes', 18),
        acct(id, 'greens', { grass: 'poa' }),
      ]),
    );
    const rec = await readRecord(db, 'account', id);
    expect(rec).toMatchObject({
      id,
      name: 'Pebble Beach Golf Links, Inc.',
      domain: 'pebblebeach.com',
      holes: 18,
      greens: { grass: 'poa' },
    });
    const key = await db.query<{ name_key: string }>('SELECT name_key FROM accounts WHERE id = $1', [id]);
    expect(key.rows[0]!.name_key).toBe('pebble beach golf links');
    const n = await db.query<{ n: number }>('SELECT count(*) AS n FROM field_values WHERE entity_id = $1', [
      id,
    ]);
    expect(n.rows[0]!.n).toBe(4);
  });

  it('applies the current-value rule: manual > newest of crm and new enrichment evidence > confident provider > earliest import > low confidence', async () => {
    const id = await newAccount(db);
    const at = (s: string) => new Date(`2026-01-0${s}T00:00:00Z`);
    const phone = async () => (await readRecord(db, 'account', id))?.phone;

    await writeFieldValues(db, [acct(id, 'phone', '+15550000001', { observedAt: at('2') })]);
    // a later import (re-import, duplicate row) does not replace the first one
    await writeFieldValues(db, [acct(id, 'phone', '+15550000002', { observedAt: at('3') })]);
    expect(await phone()).toBe('+15550000001');
    // a low-confidence provider value does not beat an import
    await writeFieldValues(db, [
      acct(id, 'phone', '+15550000003', { source: 'provider', provider: 'apollo', confidence: 0.3 }),
    ]);
    expect(await phone()).toBe('+15550000001');
    // a confident provider value does, and the most recent confident one wins
    await writeFieldValues(db, [
      acct(id, 'phone', '+15550000004', { source: 'provider', confidence: 0.9, observedAt: at('4') }),
    ]);
    await writeFieldValues(db, [
      acct(id, 'phone', '+15550000005', { source: 'step', observedAt: at('5') }),
      acct(id, 'phone', '+15550000006', { source: 'provider', confidence: 0.8, observedAt: at('3') }),
    ]);
    expect(await phone()).toBe('+15550000005');
    // a CRM value older than the enrichment's evidence does not replace it (newest evidence)…
    await writeFieldValues(db, [acct(id, 'phone', '+15550000007', { source: 'crm', observedAt: at('1') })]);
    expect(await phone()).toBe('+15550000005');
    // …a rep's correction made after it does
    await writeFieldValues(db, [acct(id, 'phone', '+15550000010', { source: 'crm', observedAt: at('6') })]);
    expect(await phone()).toBe('+15550000010');
    // re-running enrichment that finds what it already knew (a cache hit, a stale provider) does not undo it
    await writeFieldValues(db, [
      acct(id, 'phone', '+15550000005', { source: 'step', observedAt: at('7') }),
      acct(id, 'phone', '+15550000004', { source: 'provider', confidence: 0.9, observedAt: at('7') }),
    ]);
    expect(await phone()).toBe('+15550000010');
    // a value enrichment had never seen, found after the correction, is newer evidence and wins
    await writeFieldValues(db, [
      acct(id, 'phone', '+15550000011', { source: 'provider', confidence: 0.9, observedAt: at('8') }),
    ]);
    expect(await phone()).toBe('+15550000011');
    await writeFieldValues(db, [
      acct(id, 'phone', '+15550000008', { source: 'manual', observedAt: at('1') }),
    ]);
    await writeFieldValues(db, [acct(id, 'phone', '+15550000009', { source: 'provider', confidence: 1 })]);
    expect(await phone()).toBe('+15550000008');
    // a manual null clears the field
    await writeFieldValues(db, [acct(id, 'phone', null, { source: 'manual' })]);
    expect(await phone()).toBeNull();
  });

  it('reps own owner, stage and notes: their CRM value beats newer enrichment', async () => {
    const id = await newAccount(db);
    const at = (s: string) => new Date(`2026-02-0${s}T00:00:00Z`);
    await writeFieldValues(db, [acct(id, 'owner', 'avery', { source: 'crm', observedAt: at('1') })]);
    await writeFieldValues(db, [acct(id, 'owner', 'blake', { source: 'step', observedAt: at('2') })]);
    expect((await readRecord(db, 'account', id))?.owner).toBe('avery');
    await writeFieldValues(db, [acct(id, 'owner', 'casey', { source: 'manual', observedAt: at('1') })]);
    expect((await readRecord(db, 'account', id))?.owner).toBe('casey');
  });

  it('uses a low-confidence value when nothing else exists, and reports provenance', async () => {
    const id = await newAccount(db);
    await writeFieldValues(db, [
      acct(id, 'industry', 'Golf', {
        source: 'provider',
        provider: 'perplexity',
        operation: 'ask',
        confidence: 0.2,
        costUsd: 0.005,
      }),
    ]);
    expect((await readRecord(db, 'account', id))?.industry).toBe('Golf');
    const prov = await readCurrentFieldValues(db, 'account', [id]);
    expect(prov.get(id)?.get('industry')).toMatchObject({
      value: 'Golf',
      source: 'provider',
      provider: 'perplexity',
      operation: 'ask',
      costUsd: 0.005,
    });
  });

  it('removes an attribute whose current value becomes null and keeps the others', async () => {
    const id = await newAccount(db);
    await writeFieldValues(db, [acct(id, 'a', 1), acct(id, 'b', 2)]);
    await writeFieldValues(db, [acct(id, 'a', null, { source: 'manual' })]);
    const rec = await readRecord(db, 'account', id);
    expect(rec).toMatchObject({ b: 2 });
    expect(rec).not.toHaveProperty('a');
  });

  it('keeps a contact name_key in step with first/last/full name', async () => {
    const id = await newContact(db);
    await writeFieldValues(db, [
      { entityType: 'contact', entityId: id, field: 'first_name', value: 'José', source: 'import' },
    ]);
    await writeFieldValues(db, [
      { entityType: 'contact', entityId: id, field: 'last_name', value: 'Núñez', source: 'provider' },
      { entityType: 'contact', entityId: id, field: 'status', value: 'inactive', source: 'crm' },
    ]);
    const r = await db.query<{ name_key: string; status: string }>(
      'SELECT name_key, status FROM contacts WHERE id = $1',
      [id],
    );
    expect(r.rows[0]).toEqual({ name_key: 'jose nunez', status: 'inactive' });
  });

  it('does not move a domain another account holds, but records it', async () => {
    const a = await newAccount(db);
    const b = await newAccount(db);
    await writeFieldValues(db, [acct(a, 'domain', 'acme.com')]);
    await writeFieldValues(db, [acct(b, 'domain', 'acme.com', { source: 'provider' })]);
    expect((await readRecord(db, 'account', a))?.domain).toBe('acme.com');
    expect((await readRecord(db, 'account', b))?.domain).toBeNull();
    const n = await db.query<{ n: number }>("SELECT count(*) AS n FROM field_values WHERE field = 'domain'");
    expect(n.rows[0]!.n).toBe(2);
  });

  it('rejects malformed observations and unknown records without writing anything', async () => {
    const id = await newAccount(db);
    await expect(writeFieldValues(db, [acct(id, 'name_key', 'x')])).rejects.toBeInstanceOf(CriticalError);
    await expect(
      writeFieldValues(db, [acct(id, 'phone', '1', { source: 'provider', confidence: 2 })]),
    ).rejects.toThrow(/confidence/);
    await expect(
      db.transaction((tx) => writeFieldValues(tx, [acct(id, 'name', 'ok'), acct(id + 999, 'name', 'ghost')])),
    ).rejects.toThrow(/do not exist/);
    const n = await db.query<{ n: number }>('SELECT count(*) AS n FROM field_values');
    expect(n.rows[0]!.n).toBe(0);
  });

  it('writes more observations than one batch holds', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, () => newAccount(db)));
    const obs = ids.flatMap((id) => Array.from({ length: 300 }, (_, i) => acct(id, `f${i}`, i)));
    await db.transaction((tx) => writeFieldValues(tx, obs));
    const rec = await readRecord(db, 'account', ids[19]!);
    expect(rec?.f299).toBe(299);
    const n = await db.query<{ n: number }>('SELECT count(*) AS n FROM field_values');
    expect(n.rows[0]!.n).toBe(6000);
  });
});

describe('writeFieldValues input', () => {
  it('ignores undefined values without touching the database', async () => {
    const noDb = {
      query: () => Promise.reject(new Error('should not query')),
      exec: () => Promise.reject(new Error('should not exec')),
    };
    await expect(writeFieldValues(noDb, [acct(1, 'x', undefined)])).resolves.toBeUndefined();
  });
});
