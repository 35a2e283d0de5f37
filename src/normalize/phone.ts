import { type CountryCode, getCountries, parsePhoneNumberFromString } from 'libphonenumber-js';
import { cleanText } from './text.ts';

const COUNTRIES = new Set<string>(getCountries());

/** Regions of the North American Numbering Plan (+1): the common case, formatted without the library. */
const NANP = new Set([
  'US',
  'CA',
  'PR',
  'VI',
  'GU',
  'AS',
  'MP',
  'AG',
  'AI',
  'BB',
  'BM',
  'BS',
  'DM',
  'DO',
  'GD',
  'JM',
  'KN',
  'KY',
  'LC',
  'MS',
  'SX',
  'TC',
  'TT',
  'VC',
  'VG',
]);

/**
 * libphonenumber spends ~20 µs per number working out which +1 country it is, which caps an import at
 * ~50k rows/s. A plain 10-digit NANP number (area code and exchange 2-9, optional leading 1 or +1,
 * only separators, no extension) is E.164 by construction; anything else goes to the library.
 */
function nanpFastPath(text: string): string | undefined {
  if (!/^[+\d\s().-]+$/.test(text)) return undefined;
  if (text.includes('+') && !/^\+1[\s.(-]*\d/.test(text)) return undefined;
  let digits = text.replace(/\D/g, '');
  if (digits.length === 11 && digits.startsWith('1')) digits = digits.slice(1);
  if (digits.length !== 10 || !/^[2-9]\d\d[2-9]/.test(digits) || REPEATED.test(digits)) return undefined;
  return `+1${digits}`;
}

/** A national number of one digit repeated (`0000000000`, `5555555555`): a placeholder, not a phone. */
const REPEATED = /^(\d)\1+$/;

/**
 * Spreadsheet armour around a number: Apollo's leading apostrophe (`'+1 831…`, which keeps Excel
 * from reading it as a number), Excel's `="…"`, and a `tel:` prefix.
 */
function unwrap(text: string): string {
  return text
    .replace(/^'+/, '')
    .replace(/^="(.*)"$/, '$1')
    .replace(/^tel:/i, '')
    .trim();
}

/** Whether `code` is a region libphonenumber knows (ISO 3166 alpha-2, e.g. US, GB). */
export function isPhoneRegion(code: string): code is CountryCode {
  return COUNTRIES.has(code.toUpperCase());
}

/**
 * A phone number in E.164 (`+18316228723`), with its extension when it has one
 * (`+18316228723;ext=12`, the RFC 3966 form: "x12", "ext. 12" and "#12" are understood). Numbers
 * without a country code are read in `region` (default `US`; `config.defaultRegion`, or the record's
 * country). Apollo's leading apostrophe and Excel's `="…"` are dropped. "Possible" numbers are
 * accepted, not only numbers in currently allocated ranges, so test and new numbers survive; but a
 * placeholder (one digit repeated, `0000000000`) and a +1 number whose area code or exchange starts
 * with 0 or 1 are not phones. Undefined when the input is not a phone number.
 */
export function normalizePhone(input: unknown, region = 'US'): string | undefined {
  const clean = cleanText(input);
  if (!clean || !/\d/.test(clean)) return undefined;
  const text = unwrap(clean);
  const upper = region.toUpperCase();
  const fast = NANP.has(upper) ? nanpFastPath(text) : undefined;
  if (fast) return fast;
  const parsed = parsePhoneNumberFromString(text, isPhoneRegion(upper) ? upper : 'US');
  if (!parsed?.isPossible()) return undefined;
  const national = String(parsed.nationalNumber);
  if (REPEATED.test(national)) return undefined;
  if (parsed.countryCallingCode === '1' && !/^[2-9]\d\d[2-9]/.test(national)) return undefined;
  return parsed.ext ? `${parsed.number};ext=${parsed.ext}` : parsed.number;
}
