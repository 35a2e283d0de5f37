import { ConfigError } from '../errors.ts';
import { COLUMN_FIELDS, RESERVED_FIELDS } from '../records/record-fields.ts';

export type ImportKind = 'accounts' | 'contacts';

/**
 * Where a CSV column goes: a record field (a column or an attribute name), for contacts files also a
 * field of the contact's company (`account.<field>`), or nowhere (`ignore`).
 */
export type ColumnTarget =
  | { to: 'field'; field: string }
  | { to: 'account'; field: string }
  | { to: 'ignore' };

/** "State/Region" → "state region", "E-mail" → "e mail", "# Employees" → "employees". */
export function headerKey(header: string): string {
  return header
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** "Lead Source" → "lead_source": the attribute name of a column nobody mapped. */
export function attributeName(header: string, index: number): string {
  const key = headerKey(header).replace(/ /g, '_');
  if (key === '') return `column_${index + 1}`;
  return RESERVED_FIELDS.has(key) ? `csv_${key}` : key;
}

/**
 * Header aliases seen in Clay, Apollo, HubSpot, Salesforce and hand-made Google Sheets exports, as
 * headerKey()s, best first: when two columns map to one field the better alias wins and the other
 * column is kept as an attribute.
 */
const ACCOUNT_ALIASES: Record<string, string[]> = {
  name: [
    'company name',
    'company',
    'account name',
    'organization name',
    'organization',
    'business name',
    'name',
    'course name',
    'club name',
  ],
  domain: ['domain', 'company domain', 'company domain name', 'website domain', 'root domain'],
  website: [
    'website',
    'website url',
    'company website',
    'web site',
    'url',
    'homepage',
    'company url',
    'site',
  ],
  phone: [
    'phone',
    'phone number',
    'company phone',
    'main phone',
    'telephone',
    'office phone',
    'corporate phone',
    'tel',
  ],
  address: [
    'address',
    'street address',
    'street',
    'address 1',
    'address line 1',
    'company address',
    'company street',
  ],
  city: ['city', 'company city', 'town'],
  state: ['state', 'state region', 'region', 'province', 'state province', 'company state', 'county'],
  postal_code: [
    'postal code',
    'zip',
    'zip code',
    'zipcode',
    'postcode',
    'company postal code',
    'company zip',
  ],
  country: ['country', 'country region', 'company country'],
  industry: ['industry', 'company industry', 'sector'],
  segment: ['segment', 'tier', 'account tier'],
  linkedin_url: [
    'linkedin url',
    'company linkedin url',
    'linkedin',
    'company linkedin',
    'linkedin company page',
    'linkedin page',
  ],
};

const CONTACT_ALIASES: Record<string, string[]> = {
  first_name: ['first name', 'firstname', 'first', 'given name'],
  last_name: ['last name', 'lastname', 'last', 'surname', 'family name'],
  full_name: ['full name', 'name', 'contact name', 'contact', 'person name', 'person'],
  title: ['title', 'job title', 'position', 'role', 'job position', 'headline'],
  email: [
    'email',
    'email address',
    'work email',
    'e mail',
    'business email',
    'email 1',
    'primary email',
    'contact email',
  ],
  phone: [
    'phone',
    'phone number',
    'work direct phone',
    'direct phone',
    'mobile phone',
    'mobile',
    'mobile phone number',
    'work phone',
    'cell',
  ],
  linkedin_url: [
    'linkedin url',
    'person linkedin url',
    'linkedin profile',
    'linkedin',
    'linkedin profile url',
    'profile url',
  ],
};

/** Company columns of a contacts file (the contact's account). */
const CONTACT_ACCOUNT_ALIASES: Record<string, string[]> = {
  name: [
    'company name',
    'company',
    'account name',
    'organization name',
    'organization',
    'employer',
    'company name for emails',
  ],
  domain: ['company domain', 'company domain name', 'domain', 'website domain'],
  website: ['company website', 'website', 'website url', 'company url', 'url'],
  phone: ['company phone', 'corporate phone', 'main phone', 'office phone'],
  address: ['company address', 'company street'],
  city: ['company city'],
  state: ['company state', 'company state region'],
  postal_code: ['company postal code', 'company zip'],
  country: ['company country'],
  industry: ['industry', 'company industry'],
  linkedin_url: ['company linkedin url', 'company linkedin'],
};

/** Headers that only a file of people has. */
const PERSON_SIGNALS = new Set([
  ...(CONTACT_ALIASES.first_name ?? []),
  ...(CONTACT_ALIASES.last_name ?? []),
  ...(CONTACT_ALIASES.email ?? []),
  ...(CONTACT_ALIASES.title ?? []),
  'full name',
  'contact name',
  'person linkedin url',
  'linkedin profile',
]);

/** Accounts unless the headers name people (an email, a first/last name, a job title). */
export function detectKind(headers: string[]): ImportKind {
  return headers.some((h) => PERSON_SIGNALS.has(headerKey(h))) ? 'contacts' : 'accounts';
}

/** Parses repeated `--map "Header=field"` values; an empty field ignores the column. */
export function parseMapOptions(values: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of values) {
    const eq = v.lastIndexOf('=');
    if (eq <= 0) {
      throw new ConfigError(
        `--map ${JSON.stringify(v)}: expected "CSV header=field", e.g. --map "Course=name" (empty field ignores the column)`,
        { exitCode: 2 },
      );
    }
    out.set(v.slice(0, eq).trim(), v.slice(eq + 1).trim());
  }
  return out;
}

const FIELD_NAME = /^[a-z_][a-z0-9_]*$/;

function parseTarget(kind: ImportKind, raw: string, header: string): ColumnTarget {
  if (raw === '' || raw === '-') return { to: 'ignore' };
  const [prefix, rest] = raw.includes('.') ? raw.split('.', 2) : [undefined, raw];
  const field = (rest ?? '').trim();
  const bad = (why: string) => new ConfigError(`--map "${header}=${raw}": ${why}`, { exitCode: 2 });
  if (!FIELD_NAME.test(field)) throw bad('a field is a lowercase name such as phone or course_type');
  if (RESERVED_FIELDS.has(field)) throw bad(`"${field}" is managed by Sluice and cannot be imported`);
  if (prefix === undefined) return { to: 'field', field };
  if (prefix === 'account' && kind === 'contacts') return { to: 'account', field };
  throw bad('only contacts files take "account.<field>" (the contact\'s company)');
}

/**
 * Decides where every column goes: --map overrides first, then aliases (best alias wins a field), then
 * every other column is kept as an attribute named after its header. Throws a usage error for a --map
 * header the file does not have.
 */
export function mapHeaders(
  kind: ImportKind,
  headers: string[],
  overrides: Map<string, string>,
): ColumnTarget[] {
  const targets: (ColumnTarget | undefined)[] = headers.map(() => undefined);
  const taken = new Set<string>();
  for (const [header, field] of overrides) {
    const index =
      headers.findIndex((h) => h.trim() === header) >= 0
        ? headers.findIndex((h) => h.trim() === header)
        : headers.findIndex((h) => headerKey(h) === headerKey(header));
    if (index < 0) {
      throw new ConfigError(
        `--map "${header}=${field}": the file has no column "${header}". Its columns are: ${headers.map((h) => JSON.stringify(h)).join(', ')}`,
        { exitCode: 2 },
      );
    }
    const t = parseTarget(kind, field, header);
    targets[index] = t;
    if (t.to !== 'ignore') taken.add(`${t.to}:${t.field}`);
  }
  const keys = headers.map(headerKey);
  const tables: [ColumnTarget['to'], Record<string, string[]>][] =
    kind === 'accounts'
      ? [['field', ACCOUNT_ALIASES]]
      : [
          ['field', CONTACT_ALIASES],
          ['account', CONTACT_ACCOUNT_ALIASES],
        ];
  for (const [to, aliases] of tables) {
    for (const [field, list] of Object.entries(aliases)) {
      if (taken.has(`${to}:${field}`)) continue;
      for (const alias of list) {
        const index = keys.findIndex((k, i) => k === alias && targets[i] === undefined);
        if (index >= 0) {
          targets[index] = { to, field } as ColumnTarget;
          taken.add(`${to}:${field}`);
          break;
        }
      }
    }
  }
  const columns = new Set<string>(kind === 'accounts' ? COLUMN_FIELDS.account : COLUMN_FIELDS.contact);
  return targets.map((t, i) => {
    if (t) return t;
    const name = attributeName(headers[i] ?? '', i);
    // a leftover column that is named like a field column (a second "Phone") must not overwrite it
    return { to: 'field', field: columns.has(name) || taken.has(`field:${name}`) ? `csv_${name}` : name };
  });
}
