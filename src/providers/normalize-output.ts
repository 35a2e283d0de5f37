import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { getDomain } from 'tldts';

/**
 * Small normalizers for provider outputs (emails lowercased, phones E.164, registrable domains).
 * TODO(lead): switch to src/normalize/ (helper A) once it exports email/phone/domain normalizers.
 */

/** Lowercased, trimmed email, or null when it is not an address. */
export function normalizeEmail(value: string | null | undefined): string | null {
  if (!value) return null;
  const v = value
    .trim()
    .replace(/^mailto:/i, '')
    .toLowerCase();
  return /^[^\s@]+@[^\s@]+\.[a-z]{2,}$/.test(v) ? v : null;
}

/** E.164 (`+18045925861`), or null when it is not a valid number. Default region US. */
export function normalizePhone(value: string | null | undefined, region = 'US'): string | null {
  if (!value) return null;
  const parsed = parsePhoneNumberFromString(
    value,
    region as Parameters<typeof parsePhoneNumberFromString>[1],
  );
  return parsed?.isValid() ? parsed.number : null;
}

/** Registrable domain (`www.example.co.uk/path` -> `example.co.uk`), or null. */
export function normalizeDomain(value: string | null | undefined): string | null {
  if (!value) return null;
  const v = value.trim().toLowerCase();
  const domain = getDomain(v.includes('://') ? v : `http://${v}`);
  return domain ?? null;
}

/** `https://www.linkedin.com/in/jane-doe/` form for LinkedIn profile URLs, or null. */
export function normalizeLinkedin(value: string | null | undefined): string | null {
  if (!value) return null;
  const m = /linkedin\.com\/(in|company)\/([^/?#\s]+)/i.exec(value);
  return m
    ? `https://www.linkedin.com/${m[1]!.toLowerCase()}/${decodeURIComponent(m[2]!).toLowerCase()}`
    : null;
}
