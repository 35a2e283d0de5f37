import { type CountryCode, getCountries, parsePhoneNumberFromString } from 'libphonenumber-js';
import { cleanText } from './text.ts';

const COUNTRIES = new Set<string>(getCountries());

/** Whether `code` is a region libphonenumber knows (ISO 3166 alpha-2, e.g. US, GB). */
export function isPhoneRegion(code: string): code is CountryCode {
  return COUNTRIES.has(code.toUpperCase());
}

/**
 * A phone number in E.164 (`+18316228723`). Numbers without a country code are read in `region`
 * (default `US`; `config.defaultRegion`, or the record's country). Extensions are dropped (E.164 has
 * none). "Possible" numbers are accepted, not only numbers in currently allocated ranges, so test and
 * new numbers survive. Undefined when the input is not a phone number.
 */
export function normalizePhone(input: unknown, region = 'US'): string | undefined {
  const text = cleanText(input);
  if (!text || !/\d/.test(text)) return undefined;
  const upper = region.toUpperCase();
  const parsed = parsePhoneNumberFromString(text, isPhoneRegion(upper) ? upper : 'US');
  if (!parsed?.isPossible()) return undefined;
  return parsed.number;
}
