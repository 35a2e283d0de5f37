import { parse as parseDomain } from 'tldts';
import { splitFullName } from '../normalize/person-name.ts';

/**
 * The fixed set of functions expressions may call (`formula`, `when`, templates). Every function is
 * total: bad or missing arguments give null instead of throwing, because a record with a missing
 * field is normal data, not a bug.
 */
type Fn = (...args: unknown[]) => unknown;

const isMissing = (v: unknown): boolean =>
  v === null ||
  v === undefined ||
  (typeof v === 'string' && v.trim() === '') ||
  (Array.isArray(v) && !v.length);

const str = (v: unknown): string | null =>
  v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : String(v);

const num = (v: unknown): number | null => {
  if (v === null || v === undefined || v === '' || typeof v === 'boolean') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
};

/** Registrable domain of a URL, host or email address: `https://www.x.co.uk/a` → `x.co.uk`. */
function domainOf(v: unknown): string | null {
  const s = str(v)?.trim().toLowerCase();
  if (!s) return null;
  const host = s.includes('@') && !s.includes('/') ? s.slice(s.lastIndexOf('@') + 1) : s;
  const parsed = parseDomain(host.includes('://') ? host : `http://${host}`);
  return parsed.domain ?? parsed.hostname ?? null;
}

const table: Record<string, Fn> = {
  lower: (s) => str(s)?.toLowerCase() ?? null,
  upper: (s) => str(s)?.toUpperCase() ?? null,
  trim: (s) => str(s)?.trim() ?? null,
  title_case: (s) => str(s)?.replace(/\b\p{L}/gu, (c) => c.toUpperCase()) ?? null,
  concat: (...xs) => xs.map((x) => str(x) ?? '').join(''),
  coalesce: (...xs) => xs.find((x) => !isMissing(x)) ?? null,
  is_empty: (x) => isMissing(x),
  present: (x) => !isMissing(x),
  len: (x) => (typeof x === 'string' || Array.isArray(x) ? x.length : null),
  domain_of: domainOf,
  round: (x, digits) => {
    const n = num(x);
    if (n === null) return null;
    const f = 10 ** (num(digits) ?? 0);
    return Math.round(n * f) / f;
  },
  min: (...xs) => {
    const ns = xs
      .flat()
      .map(num)
      .filter((n): n is number => n !== null);
    return ns.length ? Math.min(...ns) : null;
  },
  max: (...xs) => {
    const ns = xs
      .flat()
      .map(num)
      .filter((n): n is number => n !== null);
    return ns.length ? Math.max(...ns) : null;
  },
  abs: (x) => {
    const n = num(x);
    return n === null ? null : Math.abs(n);
  },
  number: num,
  string: str,
  contains: (h, n) => {
    if (Array.isArray(h)) return h.includes(n);
    const hs = str(h);
    const ns = str(n);
    return hs !== null && ns !== null && hs.toLowerCase().includes(ns.toLowerCase());
  },
  starts_with: (s, p) =>
    str(s)
      ?.toLowerCase()
      .startsWith(str(p)?.toLowerCase() ?? '\u0000') ?? false,
  ends_with: (s, p) =>
    str(s)
      ?.toLowerCase()
      .endsWith(str(p)?.toLowerCase() ?? '\u0000') ?? false,
  replace: (s, find, repl) => {
    const x = str(s);
    const f = str(find);
    return x === null || !f ? x : x.split(f).join(str(repl) ?? '');
  },
  split: (s, sep) =>
    str(s)
      ?.split(str(sep) ?? ',')
      .map((p) => p.trim()) ?? null,
  join: (xs, sep) => (Array.isArray(xs) ? xs.map((x) => str(x) ?? '').join(str(sep) ?? ', ') : null),
  first: (xs) => (Array.isArray(xs) ? (xs[0] ?? null) : null),
  last: (xs) => (Array.isArray(xs) ? (xs.at(-1) ?? null) : null),
  if: (c, a, b) => (c && !(Array.isArray(c) && !c.length) ? a : (b ?? null)),
  urlencode: (s) => {
    const x = str(s);
    return x === null ? null : encodeURIComponent(x);
  },
  /**
   * `[{first_name, last_name, email}]` of the people in a list that have all three (pattern evidence).
   * The email is read from `field` (default `email`): pass a field only vouched-for addresses fill
   * (`people_with_email(contacts, 'email_published')`) so a run's own guesses are not evidence.
   */
  people_with_email: (xs, field) => {
    const from = str(field) ?? 'email';
    const text = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
    return Array.isArray(xs)
      ? xs
          .filter(
            (c): c is Record<string, unknown> =>
              typeof c === 'object' &&
              c !== null &&
              text((c as Record<string, unknown>).first_name) &&
              text((c as Record<string, unknown>).last_name) &&
              text((c as Record<string, unknown>)[from]),
          )
          .map((c) => ({ first_name: c.first_name, last_name: c.last_name, email: c[from] }))
      : null;
  },
  // The one name splitter (normalize/person-name.ts): "Ana Van Dyke" → "Ana" / "Van Dyke".
  first_name: (s) => splitFullName(str(s) ?? '').firstName ?? null,
  last_name: (s) => splitFullName(str(s) ?? '').lastName ?? null,
  /** A list of objects sorted by one key (`'desc'` for highest first); items without it go last. */
  sort_by: (xs, key, dir) => {
    if (!Array.isArray(xs)) return null;
    const k = str(key) ?? '';
    const sign = str(dir)?.toLowerCase() === 'desc' ? -1 : 1;
    const val = (x: unknown) => (x && typeof x === 'object' ? (x as Record<string, unknown>)[k] : undefined);
    return [...xs].sort((a, b) => {
      const [va, vb] = [val(a), val(b)];
      if (isMissing(va) || isMissing(vb)) return isMissing(va) ? (isMissing(vb) ? 0 : 1) : -1;
      return (
        (num(va) !== null && num(vb) !== null ? num(va)! - num(vb)! : String(va).localeCompare(String(vb))) *
        sign
      );
    });
  },
  /** Each object of a list rendered through a pattern with `{key}` placeholders: `'[{score}/10] {text}'`. */
  format_each: (xs, pattern) => {
    const p = str(pattern);
    if (!Array.isArray(xs) || p === null) return null;
    return xs.map((x) =>
      p.replace(/\{(\w+)\}/g, (_, k: string) =>
        x && typeof x === 'object' ? (str((x as Record<string, unknown>)[k]) ?? '') : '',
      ),
    );
  },
  /** Lines `1. a`, `2. b`… of a list. */
  numbered: (xs) => (Array.isArray(xs) ? xs.map((x, i) => `${i + 1}. ${str(x) ?? ''}`).join('\n') : null),
  /**
   * The fields of a record whose names start with `prefix`, as `[{name, score}]` highest first
   * (prefix stripped): `ranked(account, 'opportunity_')[0].name` is the top opportunity.
   */
  ranked: (record, prefix) => {
    const pre = str(prefix) ?? '';
    if (!record || typeof record !== 'object' || Array.isArray(record)) return null;
    return Object.entries(record as Record<string, unknown>)
      .filter(([k, v]) => k.startsWith(pre) && num(v) !== null)
      .map(([k, v]) => ({ name: k.slice(pre.length), score: num(v)! }))
      .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
  },
};

/** Null-prototype, so `constructor(...)` or `__proto__(...)` in an expression is an unknown function. */
export const FUNCTIONS: Readonly<Record<string, Fn>> = Object.assign(Object.create(null), table);
