/**
 * Which fields of an account or contact have a column of their own. Every other field lives in the
 * row's `attributes` jsonb. The lists are the schema of migrations/0001_init.sql; keep them in step.
 */
export type EntityType = 'account' | 'contact';

/** Table holding each entity type (constant identifiers, never user input). */
export const ENTITY_TABLE = { account: 'accounts', contact: 'contacts' } as const satisfies Record<
  EntityType,
  string
>;

/** Fields materialized into columns, in export order. `status` is a column too (see below). */
export const COLUMN_FIELDS = {
  account: [
    'name',
    'domain',
    'website',
    'phone',
    'address',
    'city',
    'state',
    'postal_code',
    'country',
    'industry',
    'segment',
    'linkedin_url',
    'status',
  ],
  contact: [
    'first_name',
    'last_name',
    'full_name',
    'title',
    'email',
    'phone',
    'linkedin_url',
    'status',
    'last_verified_at',
  ],
} as const satisfies Record<EntityType, readonly string[]>;

/** Columns managed by Sluice itself: a field value may not target them. */
export const RESERVED_FIELDS = new Set([
  'id',
  'account_id',
  'name_key',
  'attributes',
  'created_at',
  'updated_at',
]);

/** Columns with a unique index: a value another row already holds is recorded but not materialized. */
export const UNIQUE_FIELDS = { account: 'domain', contact: 'email' } as const satisfies Record<
  EntityType,
  string
>;

/** Fields whose current value feeds the row's `name_key`. */
export const NAME_FIELDS = {
  account: ['name'],
  contact: ['first_name', 'last_name', 'full_name'],
} as const satisfies Record<EntityType, readonly string[]>;

export function isColumnField(entityType: EntityType, field: string): boolean {
  return (COLUMN_FIELDS[entityType] as readonly string[]).includes(field);
}
