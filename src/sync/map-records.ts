import { createHash } from 'node:crypto';
import type { RemoteRoute } from '../crm/define-destination.ts';
import type { Queryable } from '../db/db.ts';
import { evaluate, truthy } from '../pipelines/expression.ts';
import { renderTemplate } from '../pipelines/template.ts';
import { flattenRow, type RecordValues } from '../records/read-records.ts';
import type { CompiledField, CompiledRoute, SyncDefinition } from './compile-sync.ts';

/**
 * Turns Sluice records into what a destination should hold: the selected records (the definition's
 * filter over `{contact, account}`), each field's template rendered, the route picked. Values are
 * normalised so a diff of the same data is always empty: blank → null, numbers stay numbers.
 */
export interface MappedRecord {
  entityType: 'contact' | 'account';
  entityId: number;
  /** `sluice:contact:42`: stored in the destination's `sluice_id` field. */
  key: string;
  fields: Record<string, unknown>;
  route: RemoteRoute;
  /** The account of a contact, when the definition has a parent. */
  parentId?: number;
  hash: string;
}

export interface Scope {
  contact: RecordValues | null;
  account: RecordValues | null;
}

export const recordKey = (type: 'contact' | 'account', id: number) => `sluice:${type}:${id}`;

/** Loads every record the definition covers, as scopes (contacts with their account). */
export async function loadScopes(db: Queryable, def: SyncDefinition, ids?: number[]): Promise<Scope[]> {
  const accounts = new Map<number, RecordValues>();
  const accRows = await db.query<Record<string, unknown>>(
    def.entity === 'account' && ids
      ? 'SELECT * FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id'
      : 'SELECT * FROM accounts ORDER BY id',
    def.entity === 'account' && ids ? [ids] : [],
  );
  for (const r of accRows.rows) accounts.set(Number(r.id), flattenRow(r));
  if (def.entity === 'account') return [...accounts.values()].map((a) => ({ contact: null, account: a }));
  const rows = await db.query<Record<string, unknown>>(
    ids
      ? 'SELECT * FROM contacts WHERE id = ANY($1::bigint[]) ORDER BY id'
      : 'SELECT * FROM contacts ORDER BY id',
    ids ? [ids] : [],
  );
  return rows.rows.map((r) => {
    const contact = flattenRow(r);
    const accountId = r.account_id === null ? undefined : Number(r.account_id);
    return { contact, account: accountId !== undefined ? (accounts.get(accountId) ?? null) : null };
  });
}

export function selected(def: SyncDefinition, scope: Scope): boolean {
  if (def.entity === 'contact' && !scope.contact) return false;
  return def.filter ? truthy(evaluate(def.filter, scope as unknown as Record<string, unknown>)) : true;
}

/** A rendered value in canonical form: blank strings and empty lists are null. */
export function canonical(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v.trim() === '' ? null : v.trim();
  if (Array.isArray(v) && v.length === 0) return null;
  return v;
}

export function renderFields(fields: CompiledField[], scope: Scope): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (!f.value) continue;
    const r = renderTemplate(f.value, scope as unknown as Record<string, unknown>);
    // a text template with an empty part ("null (null/10)") is as good as missing
    out[f.to] = r.missing && !f.value.single ? null : canonical(r.value);
  }
  return out;
}

function pick(route: CompiledRoute | undefined, scope: Scope): string | undefined {
  if (!route) return undefined;
  const v = evaluate(route.by, scope as unknown as Record<string, unknown>);
  return (v !== null && v !== undefined ? route.map[String(v)] : undefined) ?? route.default;
}

export function hashOf(value: unknown): string {
  return createHash('sha1').update(JSON.stringify(value)).digest('hex').slice(0, 20);
}

export function mapRecord(def: SyncDefinition, scope: Scope): MappedRecord {
  const entityType = def.entity;
  const entityId = Number((entityType === 'contact' ? scope.contact : scope.account)!.id);
  const fields = renderFields(def.fields, scope);
  const route: RemoteRoute = {};
  const list = pick(def.list, scope);
  const owner = pick(def.owner, scope);
  if (list) route.list = list;
  if (owner) route.owner = owner;
  const parentId = def.parent && scope.account ? Number(scope.account.id) : undefined;
  return {
    entityType,
    entityId,
    key: recordKey(entityType, entityId),
    fields,
    route,
    parentId,
    hash: hashOf([fields, route]),
  };
}

/** The parent (account) of a contact sync, mapped with the parent's fields. */
export function mapParent(def: SyncDefinition, scope: Scope): MappedRecord | undefined {
  if (!def.parent || !scope.account) return undefined;
  const id = Number(scope.account.id);
  const fields = renderFields(def.parent.fields, { contact: null, account: scope.account });
  return {
    entityType: 'account',
    entityId: id,
    key: recordKey('account', id),
    fields,
    route: {},
    hash: hashOf([fields]),
  };
}
