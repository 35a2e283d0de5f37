import { domainToUnicode } from 'node:url';
import { parse } from 'tldts';
import { cleanText } from './text.ts';

/**
 * The registrable domain ("eTLD+1") of a URL, host name or email address, lowercase, in Unicode form:
 * `https://www.Example.co.uk/about` → `example.co.uk`, `ana@Mail.Acme.com` → `acme.com`,
 * `xn--bcher-kva.de` → `bücher.de`. Private suffixes count (`acme.github.io` stays itself, so two sites on
 * github.io are not one company). Undefined for IPs, `localhost`, unknown suffixes and placeholders.
 */
export function normalizeDomain(input: unknown): string | undefined {
  const text = cleanText(input);
  if (!text || !/[.]/.test(text)) return undefined;
  const parsed = parse(text.replace(/^mailto:/i, ''), { allowPrivateDomains: true });
  if (parsed.isIp || !parsed.domain || !(parsed.isIcann || parsed.isPrivate)) return undefined;
  const lower = parsed.domain.toLowerCase();
  const domain = lower.includes('xn--') ? domainToUnicode(lower) : lower;
  return domain === '' ? undefined : domain;
}

/**
 * A website as a canonical URL: scheme added when missing (`https://`), host lowercased, fragment and
 * tracking parameters (utm_*, gclid, fbclid) dropped, a lone trailing "/" removed. Undefined when the
 * value is not a URL on a real domain.
 */
export function normalizeWebsite(input: unknown): string | undefined {
  const text = cleanText(input);
  if (!text || text.includes('@') || !normalizeDomain(text)) return undefined;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  url.hash = '';
  for (const key of [...url.searchParams.keys()]) {
    if (/^(utm_\w+|gclid|fbclid|mc_eid|ref)$/i.test(key)) url.searchParams.delete(key);
  }
  const s = url.toString();
  return url.pathname === '/' && !url.search ? s.replace(/\/$/, '') : s;
}
