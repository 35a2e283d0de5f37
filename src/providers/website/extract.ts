import { findPhoneNumbersInText } from 'libphonenumber-js';
import { normalizeEmail } from '../normalize-output.ts';

/**
 * Pulls facts out of one HTML page without a DOM library: title, description, visible text, links,
 * emails (mailto + text), phones (libphonenumber-js) and staff entries (a person's name followed by a
 * job title, with the email/phone that follow before the next name). Works on cards, tables and
 * "Name, Title – email" lists, which covers the common staff-page layouts.
 */
export interface StaffEntry {
  name: string;
  title: string;
  email: string | null;
  phone: string | null;
}

export interface PageFacts {
  title: string | null;
  description: string | null;
  text: string;
  links: { url: string; text: string }[];
  emails: string[];
  phones: string[];
  staff: StaffEntry[];
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  ndash: '–',
  mdash: '—',
  middot: '·',
  copy: '©',
  rsquo: '’',
};

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1]?.toLowerCase() === 'x' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1));
      return Number.isFinite(code) ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

const TITLE_WORDS =
  /\b(manager|director|professional|pro|superintendent|owner|president|chef|coordinator|assistant|head|executive|supervisor|instructor|agronomist|membership|sales|operations|account|clubhouse|gm|ceo|coo|cfo|founder|partner|controller|administrator|teaching|greenkeeper|mechanic)\b/i;
const NOT_NAME =
  /\b(our|us|the|staff|contact|meet|home|course|golf|club|country|team|directory|welcome|virginia|email|phone|name|position|title|direct|hours|about)\b/i;
const EMAIL_RE = /[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}/gi;
const EMAIL_ONE = /[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}/i;
const IMAGE_NAME = /\.(png|jpe?g|gif|webp|svg)$/i;

function isName(s: string): boolean {
  if (s.length > 40 || NOT_NAME.test(s) || TITLE_WORDS.test(s)) return false;
  const words = s.split(/\s+/);
  return words.length >= 2 && words.length <= 4 && words.every((w) => /^[A-Z][A-Za-z'’.-]*$/.test(w));
}

function isTitle(s: string): boolean {
  return s.length <= 60 && TITLE_WORDS.test(s) && !EMAIL_ONE.test(s) && !/\d{3}/.test(s);
}

function phonesIn(text: string, region: string): string[] {
  return findPhoneNumbersInText(text, region as 'US').map((f) => f.number.number);
}

export function extractPage(html: string, pageUrl: string, region = 'US'): PageFacts {
  const clean = html
    .replace(/<(script|style|noscript|svg)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ');
  const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(clean)?.[1];
  const description = /<meta[^>]+name=["']description["'][^>]*content=["']([^"']*)["']/i.exec(clean)?.[1];

  const links: PageFacts['links'] = [];
  const emails = new Set<string>();
  const seenLinks = new Set<string>();
  for (const m of clean.matchAll(/<a\b[^>]*href=["']([^"']+)["'][^>]*>([\s\S]*?)<\/a>/gi)) {
    const href = decodeEntities(m[1]!.trim());
    if (/^mailto:/i.test(href)) {
      const e = normalizeEmail(href.replace(/^mailto:/i, '').split('?')[0]);
      if (e) emails.add(e);
      continue;
    }
    let abs: URL;
    try {
      abs = new URL(href, pageUrl);
    } catch {
      continue;
    }
    if (!/^https?:$/.test(abs.protocol)) continue;
    abs.hash = '';
    if (seenLinks.has(abs.href)) continue;
    seenLinks.add(abs.href);
    links.push({ url: abs.href, text: decodeEntities(m[2]!.replace(/<[^>]+>/g, '')).trim() });
  }

  // Visible text with block boundaries as newlines; mailto links become their address.
  const body = (/<body[^>]*>([\s\S]*)<\/body>/i.exec(clean)?.[1] ?? clean)
    .replace(/<a\b[^>]*href=["']mailto:([^"'?]+)[^"']*["'][^>]*>[\s\S]*?<\/a>/gi, ' $1 ')
    .replace(
      /<\/?(p|div|h[1-6]|li|ul|ol|tr|td|th|table|br|section|article|header|footer|address|nav|main|dt|dd|dl)\b[^>]*>/gi,
      '\n',
    )
    .replace(/<[^>]+>/g, ' ');
  const lines = decodeEntities(body)
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
  const text = lines.join('\n');
  for (const m of text.matchAll(EMAIL_RE)) {
    const e = normalizeEmail(m[0]);
    if (e && !IMAGE_NAME.test(e)) emails.add(e);
  }
  const phones = [...new Set(phonesIn(text, region))];

  // Tokens: each line split on the separators staff lists use between name, title and contact.
  const tokens = lines.flatMap((l) =>
    l
      .split(/\s*(?:,|\s[–—-]\s|\||·)\s*/)
      .map((t) => t.trim())
      .filter(Boolean),
  );
  const staff: StaffEntry[] = [];
  for (let i = 0; i + 1 < tokens.length; i++) {
    const name = tokens[i]!;
    const title = tokens[i + 1]!;
    if (!isName(name) || !isTitle(title)) continue;
    const entry: StaffEntry = { name, title, email: null, phone: null };
    let j = i + 2;
    // A person's details sit right after the title (cards: 1-2 lines; tables: 2 cells).
    for (; j < tokens.length && j <= i + 3 && !isName(tokens[j]!); j++) {
      const t = tokens[j]!;
      const email = EMAIL_ONE.exec(t)?.[0];
      if (email && !IMAGE_NAME.test(email)) entry.email ??= normalizeEmail(email);
      else if (!entry.phone) entry.phone = phonesIn(t, region)[0] ?? null;
    }
    staff.push(entry);
    i = j - 1;
  }

  return {
    title: title ? decodeEntities(title).replace(/\s+/g, ' ').trim() : null,
    description: description ? decodeEntities(description) : null,
    text,
    links,
    emails: [...emails],
    phones,
    staff,
  };
}
