import { companyNameKey } from '../normalize/company-name-key.ts';
import { countryCode } from '../normalize/country.ts';
import { normalizeDomain, normalizeWebsite } from '../normalize/domain.ts';
import { parseEmail } from '../normalize/email.ts';
import { isFreeEmailDomain } from '../normalize/free-email-domains.ts';
import { normalizeLinkedInUrl } from '../normalize/linkedin.ts';
import { completePersonName, personNameKey } from '../normalize/person-name.ts';
import { normalizePhone } from '../normalize/phone.ts';
import { cleanText } from '../normalize/text.ts';
import type { ColumnTarget, ImportKind } from './header-map.ts';

/** Normalized values of one record from one CSV row: field → value (columns and attributes alike). */
export type Values = Record<string, string>;

export interface AccountCandidate {
  line: number;
  values: Values;
  /** Registrable domain: the strong identity. */
  domain?: string;
  /** companyNameKey(name) + "|" + lowercase state: the identity when there is no domain. */
  nameState?: string;
}

export interface ContactCandidate {
  line: number;
  values: Values;
  email?: string;
  nameKey?: string;
  /** The contact's company, when the row names one (company name, domain or website). */
  account?: AccountCandidate;
  /** Company domain of a work email, to link an existing account when the row names no company. */
  emailDomain?: string;
}

export type Rejection = { line: number; reason: string };
export type Normalized<C> = { ok: true; candidate: C } | { ok: false; rejection: Rejection };

/** Fields whose text is reformatted; a value that fails is kept as `<field>_raw` so nothing is lost. */
type Normalizer = (value: string, region: string) => string | undefined;
const FORMATTED: Record<string, Normalizer> = {
  domain: (v) => normalizeDomain(v),
  website: (v) => normalizeWebsite(v),
  phone: (v, region) => normalizePhone(v, region),
  linkedin_url: (v) => normalizeLinkedInUrl(v),
};

export interface RowNormalizerOptions {
  kind: ImportKind;
  headers: string[];
  targets: ColumnTarget[];
  /** Region for phone numbers without a country code when the row has no recognizable country. */
  region: string;
  /**
   * Columns that may fill `phone` (the record's, and for contacts its company's), best first
   * (header-map.ts phoneSources): a row's phone is the first valid number among them. Those of them
   * kept as attributes are formatted as phones too. Default: only the column mapped to `phone`.
   */
  phoneSources?: { own: number[]; account: number[] };
}

/** Builds the function that turns one CSV row into a candidate record or a rejection with its reason. */
export function createRowNormalizer(options: RowNormalizerOptions) {
  const { kind, headers, targets, region } = options;
  const sources = options.phoneSources ?? { own: [], account: [] };
  // other phone columns kept as attributes ("Mobile Phone" → mobile_phone) are formatted like phone
  const phoneAttributes = new Set(
    [...sources.own, ...sources.account].flatMap((i) => {
      const t = targets[i]!;
      return t.to !== 'ignore' && t.field !== 'phone' ? [`${t.to}:${t.field}`] : [];
    }),
  );
  const formatterOf = (to: 'field' | 'account', field: string): Normalizer | undefined =>
    FORMATTED[field] ?? (phoneAttributes.has(`${to}:${field}`) ? FORMATTED.phone : undefined);

  /** The first valid phone number among `columns` of the row. */
  function fallbackPhone(columns: number[], values: string[], rowRegion: string): string | undefined {
    for (const i of columns) {
      const phone = normalizePhone(values[i], rowRegion);
      if (phone) return phone;
    }
    return undefined;
  }

  function collect(values: string[]): { own: Record<string, string>; account: Record<string, string> } {
    const own: Record<string, string> = {};
    const account: Record<string, string> = {};
    targets.forEach((t, i) => {
      if (t.to === 'ignore') return;
      const v = cleanText(values[i]);
      if (v === undefined) return;
      const into = t.to === 'account' ? account : own;
      into[t.field] ??= v;
    });
    return { own, account };
  }

  function formatFields(raw: Record<string, string>, rowRegion: string, to: 'field' | 'account'): Values {
    const out: Values = {};
    for (const [field, value] of Object.entries(raw)) {
      const fmt = formatterOf(to, field);
      if (!fmt) {
        out[field] = value;
        continue;
      }
      const v = fmt(value, rowRegion);
      if (v === undefined) out[`${field}_raw`] = value;
      else out[field] = v;
    }
    return out;
  }

  function account(
    line: number,
    raw: Record<string, string>,
    row: string[],
    to: 'field' | 'account',
    fallbackRegion = region,
  ): AccountCandidate {
    const rowRegion = countryCode(raw.country) ?? fallbackRegion;
    const values = formatFields(raw, rowRegion, to);
    const phoneColumns = to === 'field' ? sources.own : sources.account;
    if (values.phone === undefined && phoneColumns.length > 1) {
      const phone = fallbackPhone(phoneColumns, row, rowRegion);
      if (phone) values.phone = phone;
    }
    if (!values.domain && values.website) values.domain = normalizeDomain(values.website)!;
    const key = companyNameKey(values.name);
    const c: AccountCandidate = { line, values };
    if (values.domain) c.domain = values.domain;
    if (key) c.nameState = `${key}|${(values.state ?? '').toLowerCase()}`;
    return c;
  }

  function tooManyValues(line: number, values: string[]): Rejection | undefined {
    if (values.length <= headers.length) return undefined;
    if (values.slice(headers.length).every((v) => v.trim() === '')) return undefined;
    return {
      line,
      reason: `${values.length} values but the header has ${headers.length} columns (an unquoted delimiter inside a value?)`,
    };
  }

  function normalizeAccount(line: number, values: string[]): Normalized<AccountCandidate> {
    const extra = tooManyValues(line, values);
    if (extra) return { ok: false, rejection: extra };
    const c = account(line, collect(values).own, values, 'field');
    if (!c.domain && !c.values.name) {
      const bad = c.values.domain_raw ?? c.values.website_raw;
      const reason = bad
        ? `no company name, and "${bad}" is not a domain or website`
        : 'no company name and no domain or website';
      return { ok: false, rejection: { line, reason } };
    }
    return { ok: true, candidate: c };
  }

  function normalizeContact(line: number, values: string[]): Normalized<ContactCandidate> {
    const extra = tooManyValues(line, values);
    if (extra) return { ok: false, rejection: extra };
    const { own, account: acc } = collect(values);
    const reject = (reason: string) => ({ ok: false as const, rejection: { line, reason } });
    // a value that is not what its field needs is kept as <field>_raw: the rest of the row still counts
    let email: string | undefined;
    let badEmail: string | undefined;
    if (own.email !== undefined) {
      const parsed = parseEmail(own.email);
      if (parsed.ok) email = parsed.email;
      else {
        badEmail = parsed.reason;
        own.email_raw = own.email;
      }
      delete own.email;
    }
    if (own.status !== undefined) {
      const s = own.status.toLowerCase();
      if (s === 'active' || s === 'inactive') own.status = s;
      else {
        own.status_raw = own.status;
        delete own.status;
      }
    }
    if (own.last_verified_at !== undefined && Number.isNaN(Date.parse(own.last_verified_at))) {
      own.last_verified_at_raw = own.last_verified_at;
      delete own.last_verified_at;
    }
    const name = completePersonName({
      firstName: own.first_name,
      lastName: own.last_name,
      fullName: own.full_name,
    });
    delete own.first_name;
    delete own.last_name;
    delete own.full_name;
    const companyRegion = countryCode(acc.country) ?? countryCode(own.country) ?? region;
    const v = formatFields(own, companyRegion, 'field');
    if (v.phone === undefined && sources.own.length > 1) {
      const phone = fallbackPhone(sources.own, values, companyRegion);
      if (phone) v.phone = phone;
    }
    if (email) v.email = email;
    if (name.firstName) v.first_name = name.firstName;
    if (name.lastName) v.last_name = name.lastName;
    if (name.fullName) v.full_name = name.fullName;
    const nameKey = personNameKey(name);
    if (!email && !nameKey) return reject(badEmail ? `no name, and ${badEmail}` : 'no email and no name');
    const c: ContactCandidate = { line, values: v, email, nameKey };
    const emailDomain = email ? normalizeDomain(email) : undefined;
    const work = emailDomain && !isFreeEmailDomain(emailDomain) ? emailDomain : undefined;
    if (Object.keys(acc).length > 0) {
      const a = account(line, acc, values, 'account', companyRegion);
      // a company named without a website: its domain is the one of the work email
      if (!a.domain && work && a.values.name) {
        a.domain = work;
        a.values.domain = work;
      }
      if (a.domain || a.values.name) c.account = a;
    }
    if (!c.account && work) c.emailDomain = work;
    return { ok: true, candidate: c };
  }

  return { kind, normalizeAccount, normalizeContact };
}
