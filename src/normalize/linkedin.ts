import { cleanText } from './text.ts';

/** URL kinds we canonicalize. */
const KINDS: Record<string, 'in' | 'company' | 'school' | 'showcase'> = {
  in: 'in',
  company: 'company',
  school: 'school',
  showcase: 'showcase',
};

/**
 * A LinkedIn profile or company URL in canonical form: `https://www.linkedin.com/in/<handle>` or
 * `https://www.linkedin.com/company/<slug>` (also `school`, `showcase`), handle lowercased and
 * percent-encoded, country subdomains (`uk.linkedin.com`), query strings, trailing slashes and
 * sub-pages (`/about`) dropped. Undefined when the value is not a LinkedIn profile/company URL.
 */
export function normalizeLinkedInUrl(input: unknown): string | undefined {
  const text = cleanText(input);
  if (!text) return undefined;
  let url: URL;
  try {
    url = new URL(/^https?:\/\//i.test(text) ? text : `https://${text.replace(/^\/+/, '')}`);
  } catch {
    return undefined;
  }
  const host = url.hostname.toLowerCase();
  if (host !== 'linkedin.com' && !host.endsWith('.linkedin.com')) return undefined;
  const [kindPart, handlePart] = url.pathname.split('/').filter(Boolean);
  const kind = kindPart ? KINDS[kindPart.toLowerCase()] : undefined;
  if (!kind || !handlePart) return undefined;
  let handle: string;
  try {
    handle = decodeURIComponent(handlePart);
  } catch {
    handle = handlePart;
  }
  handle = handle.trim().toLowerCase();
  if (handle === '') return undefined;
  return `https://www.linkedin.com/${kind}/${encodeURIComponent(handle)}`;
}
