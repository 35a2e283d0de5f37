import { normalizeDomain } from './domain.ts';
import { cleanText } from './text.ts';

/** Local part: the dot-atom of RFC 5322 (what real mailboxes use), up to 64 characters. */
const LOCAL = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const HOST = /^([\p{L}\p{N}]([\p{L}\p{N}-]*[\p{L}\p{N}])?\.)+[\p{L}\p{N}-]{2,}$/u;

export type EmailResult = { ok: true; email: string } | { ok: false; reason: string };

/**
 * Trims, drops a `mailto:` prefix and surrounding `<>`, lowercases and validates an email address. The
 * host must end in a known public suffix (`ana@acme.con` is rejected). Empty input is `ok: false` with
 * reason "empty"; callers treat that as "no email", not an error.
 */
export function parseEmail(input: unknown): EmailResult {
  const text = cleanText(input)
    ?.replace(/^mailto:/i, '')
    .replace(/^<(.*)>$/, '$1')
    .trim();
  if (!text) return { ok: false, reason: 'empty' };
  const email = text.toLowerCase();
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1)
    return { ok: false, reason: `invalid email "${text}" (no local part or domain)` };
  const local = email.slice(0, at);
  const host = email.slice(at + 1);
  if (local.length > 64 || !LOCAL.test(local))
    return { ok: false, reason: `invalid email "${text}" (bad local part)` };
  if (!HOST.test(host) || !normalizeDomain(host))
    return { ok: false, reason: `invalid email "${text}" (bad domain)` };
  return { ok: true, email };
}

/** The normalized address, or undefined when empty or invalid. */
export function normalizeEmail(input: unknown): string | undefined {
  const r = parseEmail(input);
  return r.ok ? r.email : undefined;
}
