import { findPhoneNumbersInText } from 'libphonenumber-js';
import type { Read } from './read-course.ts';
import type { FactForm, Luck } from './reader-rates.ts';

/**
 * Reads what the text says about one person (named in the question): the lines that carry the name,
 * and the two lines after each (cards put the title, email and phone under the name). Details on the
 * name's own line are `labelled`; those found below it are `prose` (missed more often, see
 * READER_RATES). Also reads staff lists ("Name, Title" / "Name – Title" / "Name | Title" lines).
 */
export interface PersonReading {
  email?: Read<string>;
  /** A number on the person's own lines. */
  phone?: Read<string>;
  /** The page's main line ("Phone: …" not next to any name), a weak reader's fallback. */
  mainLine?: string;
  linkedinUrl?: Read<string>;
  startYear?: Read<number>;
  previousClubs?: Read<string[]>;
  title?: Read<string>;
}

export interface StaffRead {
  name: string;
  title: string;
  email: string | null;
  phone: string | null;
}

const CAP_WORD = "(?:[A-Z][a-z]+(?:['’-][A-Z]?[a-z]+)*|Mc[A-Z][a-z]+|De[A-Z][a-z]+|O['’][A-Z][a-z]+)";
const PARTICLE = '(?:Van|Von|De|Del|Della|Da|Le|La|St\\.?)';
const NAME_RE = new RegExp(`\\b${CAP_WORD}(?:\\s+(?:${PARTICLE}\\s+)?${CAP_WORD}){1,2}\\b`, 'g');
const NOT_NAME =
  /\b(Golf|Club|Course|Country|Links|Resort|Municipal|Virginia|What|Which|Since|Answer|Give|How|LinkedIn|Search|Results|Staff|Contact|Home|Welcome|General|Head|Director|Manager|Professional|Superintendent|Assistant|Owner|Food|Membership|Clubhouse|Instruction|Beverage|Sales|Operations|Account|President|The|Title|URL|Phone|Email|Direct)\b/;
const EMAIL_RE = /[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}/i;
const LINKEDIN_RE = /https?:\/\/(?:www\.)?linkedin\.com\/in\/[A-Za-z0-9_-]+/i;
const SINCE_RE =
  /\b(?:since|joined[^.\n]{0,40}?in|from)\s+((?:19|20)\d{2})\b|\b((?:19|20)\d{2})\s*[–-]\s*present\b/i;
const PREVIOUS_RE =
  /\b(?:previously(?: at)?|before that(?:,)? (?:at)?|after working at|worked at)\s*:?\s*([^.\n]+)/i;
const TITLE_RE =
  /\b((?:General|Assistant|Clubhouse|Sales|Operations|Membership|Food & Beverage|Golf Course)? ?(?:Manager|Director(?: of [A-Z][a-z]+)?|Golf Professional|Superintendent|Owner|President|Account Executive))\b/;

/** Person-like names in a question ("What is the LinkedIn of Ana Van Dyke (Owner) at …?"). */
export function namesIn(text: string): string[] {
  return [...text.matchAll(NAME_RE)].map((m) => m[0]).filter((n) => !NOT_NAME.test(n));
}

function phoneIn(line: string): string | undefined {
  return findPhoneNumbersInText(line, 'US')[0]?.number.number;
}

export function readPerson(text: string, name: string, luck: Luck): PersonReading {
  const lines = text.split('\n');
  const lower = name.toLowerCase();
  const out: PersonReading = {};
  const take = (key: keyof PersonReading, value: unknown, form: FactForm, where: number) => {
    if (out[key] !== undefined) return;
    const k = `${key}:${name}:${where}:${text.length}`;
    if (luck.roll(`miss:${k}`) < luck.rates.miss[form]) return;
    (out as Record<string, unknown>)[key] = { value, form };
  };
  const escaped = new RegExp(name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
  for (const [i, line] of lines.entries()) {
    if (!line.toLowerCase().includes(lower)) continue;
    const block = [line, lines[i + 1] ?? '', lines[i + 2] ?? ''];
    for (const [j, l] of block.entries()) {
      // The next person's line ends this person's block.
      if (j > 0 && namesIn(l).some((n) => n.toLowerCase() !== lower)) break;
      const form: FactForm = j === 0 ? 'labelled' : 'prose';
      const email = EMAIL_RE.exec(l)?.[0];
      if (email) take('email', email.toLowerCase(), form, i + j);
      const phone = phoneIn(l.replace(LINKEDIN_RE, ''));
      if (phone) take('phone', phone, form, i + j);
      const linkedin = LINKEDIN_RE.exec(l)?.[0];
      if (linkedin) take('linkedinUrl', linkedin, form, i + j);
      const since = SINCE_RE.exec(l);
      if (since) take('startYear', Number(since[1] ?? since[2]), form, i + j);
      const prev = PREVIOUS_RE.exec(l);
      if (prev)
        take(
          'previousClubs',
          prev[1]!
            .split(/,|\band\b|;/)
            .map((s) => s.trim())
            .filter((s) => s.length > 2),
          form,
          i + j,
        );
      const title = TITLE_RE.exec(l.replace(escaped, ''))?.[1]?.trim();
      if (title) take('title', title, form, i + j);
    }
  }
  const main = /\b(?:phone|call us|tel)\b[^\n]{0,20}?(\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4})/i.exec(text);
  const mainLine = main ? phoneIn(main[1]!) : undefined;
  if (mainLine) out.mainLine = mainLine;
  return out;
}

const STAFF_LINE =
  /^\s*[-*]?\s*\**([^,|–—\n*]+?)\**\s*(?:,|\||\s[–—-]\s)\s*([^,|–—\n]+?)\s*(?:(?:,|\||\s[–—-]\s)(.*))?$/;

/**
 * Staff from lines that hold "Name, Title[, details]" (lists, table rows). A name and title on two
 * separate lines (cards) is an odd layout for this reader: read at the `prose` rates.
 */
export function readStaff(text: string, luck: Luck): StaffRead[] {
  const lines = text.split('\n').map((l) => l.trim());
  const out: StaffRead[] = [];
  const seen = new Set<string>();
  for (const [i, line] of lines.entries()) {
    const names = namesIn(line);
    const name = names[0];
    if (!name || seen.has(name)) continue;
    const m = STAFF_LINE.exec(line);
    let title = m && m[1]!.trim() === name ? TITLE_RE.exec(m[2]!)?.[1] : undefined;
    let form: FactForm = 'labelled';
    let details = m?.[3] ?? '';
    if (!title && line.trim() === name) {
      title = TITLE_RE.exec(lines[i + 1] ?? '')?.[1];
      details = `${lines[i + 2] ?? ''} ${lines[i + 3] ?? ''}`;
      form = 'prose';
    }
    if (!title) continue;
    if (luck.roll(`miss:staff:${name}:${text.length}`) < luck.rates.miss[form]) continue;
    seen.add(name);
    out.push({
      name,
      title: title.trim(),
      email: EMAIL_RE.exec(details)?.[0]?.toLowerCase() ?? null,
      phone: phoneIn(details) ?? null,
    });
  }
  return out;
}
