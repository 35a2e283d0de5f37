import { ConfigError } from '../errors.ts';
import { COLUMN_FIELDS, RESERVED_FIELDS } from '../records/record-fields.ts';
import { showText } from './sniff-file.ts';

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
  // best first: see CONTACT_PHONE_PREFERENCE
  phone: [
    'work direct phone',
    'direct phone',
    'direct dial',
    'direct line',
    'mobile phone',
    'mobile',
    'mobile phone number',
    'cell',
    'cell phone',
    'first phone',
    'phone',
    'phone number',
    'work phone',
    'telephone',
    'business phone',
    'home phone',
    'other phone',
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

/**
 * Which phone column of a contacts file fills `phone`, per row: the first one with a valid number, in
 * this order (Apollo: Work Direct Phone, Mobile Phone, Home Phone, Other Phone, Corporate Phone;
 * HubSpot: Phone Number, Mobile Phone Number; Clay: Phone Number, Mobile Phone). A person's direct line
 * beats their mobile, which beats a general number; the company's line (Corporate Phone) comes last.
 * The best column present is the `phone` column; the others are also kept as attributes.
 */
export const CONTACT_PHONE_PREFERENCE = [...(CONTACT_ALIASES.phone ?? []), 'corporate phone'];

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

/**
 * The columns that may fill `phone` (of the record, and for contacts of its company), best first: the
 * column mapped to `phone`, then the other phone columns in the documented preference. When the row's
 * value in the first is missing or not a phone, the next valid one is used. A `phone` set by --map
 * from a column that is not a known phone header has no fallbacks; ignored columns are never used.
 */
export function phoneSources(
  kind: ImportKind,
  headers: string[],
  targets: ColumnTarget[],
): { own: number[]; account: number[] } {
  const keys = headers.map(headerKey);
  const side = (to: 'field' | 'account', preference: string[]): number[] => {
    const primary = targets.findIndex((t) => t.to === to && t.field === 'phone');
    if (primary >= 0 && !preference.includes(keys[primary]!)) return [primary];
    const ranked = preference.flatMap((alias) =>
      keys.flatMap((k, i) => (k === alias && targets[i]!.to !== 'ignore' ? [i] : [])),
    );
    return primary >= 0 ? [primary, ...ranked.filter((i) => i !== primary)] : ranked;
  };
  if (kind === 'accounts') return { own: side('field', ACCOUNT_ALIASES.phone ?? []), account: [] };
  return {
    own: side('field', CONTACT_PHONE_PREFERENCE),
    account: side('account', CONTACT_ACCOUNT_ALIASES.phone ?? []),
  };
}

/** Accounts unless the headers name people (an email, a first/last name, a job title). */
export function detectKind(headers: string[]): ImportKind {
  return headers.some((h) => PERSON_SIGNALS.has(headerKey(h))) ? 'contacts' : 'accounts';
}

/**
 * Parses repeated `--map "Header=field"` values; an empty field (or `-`) ignores the column. A header
 * written `#N` is the N-th column (1-based), for files whose headers repeat.
 */
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

/** Edit distance of two short names (for "did you mean"). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The field a mistyped or alias-like target most likely meant. */
function suggestField(
  field: string,
  columns: readonly string[],
  aliases: Record<string, string[]>,
): string | undefined {
  const key = headerKey(field);
  for (const [f, list] of Object.entries(aliases)) if (list.includes(key)) return f;
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of columns) {
    const d = distance(field, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * A `--map` target: a column field (`phone`), `attributes.<name>` (any attribute), and for contacts
 * files the same on the contact's company (`account.phone`, `account.attributes.<name>`). A bare name
 * that is not a column field is refused with a suggestion, so a typo never becomes a new attribute.
 */
function parseTarget(kind: ImportKind, raw: string, header: string): ColumnTarget {
  if (raw === '' || raw === '-') return { to: 'ignore' };
  const bad = (why: string) => new ConfigError(`--map "${header}=${raw}": ${why}`, { exitCode: 2 });
  let rest = raw;
  let to: 'field' | 'account' = 'field';
  if (rest.startsWith('account.')) {
    if (kind !== 'contacts') throw bad('only contacts files take "account.<field>" (the contact\'s company)');
    to = 'account';
    rest = rest.slice('account.'.length);
  }
  const prefix = to === 'account' ? 'account.' : '';
  const attribute = rest.startsWith('attributes.');
  const field = (attribute ? rest.slice('attributes.'.length) : rest).trim();
  if (!FIELD_NAME.test(field))
    throw bad('a field is a lowercase name such as phone or attributes.course_type');
  if (RESERVED_FIELDS.has(field)) throw bad(`"${field}" is managed by Sluice and cannot be imported`);
  const entity = to === 'account' || kind === 'accounts' ? 'account' : 'contact';
  const columns: readonly string[] = COLUMN_FIELDS[entity];
  if (attribute) {
    if (columns.includes(field))
      throw bad(`"${field}" is a field of its own: write --map "${header}=${prefix}${field}"`);
    return { to, field };
  }
  if (!columns.includes(field)) {
    const aliases = entity === 'account' ? ACCOUNT_ALIASES : CONTACT_ALIASES;
    const guess = suggestField(field, columns, aliases);
    throw bad(
      `${entity}s have no field "${field}"${guess ? ` (did you mean "${prefix}${guess}"?)` : ''}. ` +
        `Fields: ${columns.join(', ')}. To keep the column as an attribute, write --map "${header}=${prefix}attributes.${field}"`,
    );
  }
  return { to, field };
}

/** The column a --map header names: `#N`, else the exact header, else the same headerKey. */
function findColumn(headers: string[], header: string): number {
  const position = /^#(\d+)$/.exec(header);
  if (position) {
    const n = Number(position[1]);
    return n >= 1 && n <= headers.length ? n - 1 : -1;
  }
  const exact = headers.findIndex((h) => h.trim() === header);
  return exact >= 0 ? exact : headers.findIndex((h) => headerKey(h) === headerKey(header));
}

/**
 * Columns whose headers name the same thing ("Phone" twice, or "E-mail" and "E mail"), unless --map
 * places each of them by position (`#N`): one would silently lose to the other.
 */
function refuseDuplicateHeaders(headers: string[], overrides: Map<string, string>): void {
  const byPosition = new Set<number>();
  for (const header of overrides.keys()) {
    const m = /^#(\d+)$/.exec(header);
    if (m) byPosition.add(Number(m[1]) - 1);
  }
  const seen = new Map<string, number[]>();
  headers.forEach((h, i) => {
    const key = headerKey(h);
    if (key === '') return;
    seen.set(key, [...(seen.get(key) ?? []), i]);
  });
  for (const indexes of seen.values()) {
    const unplaced = indexes.filter((i) => !byPosition.has(i));
    if (indexes.length < 2 || unplaced.length < 2) continue;
    const [a, b] = unplaced as [number, number];
    const same = headers[a]!.trim() === headers[b]!.trim();
    throw new ConfigError(
      `columns ${a + 1} and ${b + 1} are ${same ? `both named ${showText(headers[a]!)}` : `named ${showText(headers[a]!)} and ${showText(headers[b]!)}, which read the same`}: ` +
        `rename one in the file, or place them by position, e.g. --map "#${a + 1}=phone" --map "#${b + 1}=attributes.phone_2"`,
    );
  }
}

/**
 * Decides where every column goes: --map overrides first, then aliases (best alias wins a field), then
 * every other column is kept as an attribute named after its header. Throws a usage error for a --map
 * header the file does not have or a target that is not a field, and an error for repeated headers.
 * `exactTargets` (the HTTP API): the overrides are field names as given, a name that is not a column
 * being an attribute.
 */
export function mapHeaders(
  kind: ImportKind,
  headers: string[],
  overrides: Map<string, string>,
  options: { exactTargets?: boolean } = {},
): ColumnTarget[] {
  if (!options.exactTargets) refuseDuplicateHeaders(headers, overrides);
  const targets: (ColumnTarget | undefined)[] = headers.map(() => undefined);
  const taken = new Set<string>();
  for (const [header, field] of overrides) {
    const index = findColumn(headers, header);
    if (index < 0) {
      throw new ConfigError(
        `--map "${header}=${field}": the file has no column ${/^#\d+$/.test(header) ? header : showText(header)}. Its columns are: ${headers.map((h) => showText(h)).join(', ')}`,
        { exitCode: 2 },
      );
    }
    const t = options.exactTargets ? exactTarget(kind, field) : parseTarget(kind, field, header);
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

/** An API record key: `field` or `account.field`, a column or an attribute alike. */
function exactTarget(kind: ImportKind, raw: string): ColumnTarget {
  const account = kind === 'contacts' && raw.startsWith('account.');
  const field = account ? raw.slice('account.'.length) : raw;
  if (RESERVED_FIELDS.has(field))
    throw new ConfigError(`"${raw}": "${field}" is managed by Sluice and cannot be imported`, {
      exitCode: 2,
    });
  if (!FIELD_NAME.test(field))
    throw new ConfigError(`"${raw}": only contacts take "account.<field>" (the contact's company)`, {
      exitCode: 2,
    });
  return account ? { to: 'account', field } : { to: 'field', field };
}
