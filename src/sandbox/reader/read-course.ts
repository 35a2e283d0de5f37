import type { Access } from '../world.ts';
import type { FactForm, Luck } from './reader-rates.ts';

/**
 * Reads golf-course facts out of prompt text (page text, search snippets, facts a pipeline passes on):
 * only what the text says, in the forms docs/sandbox.md lists. Every fact records how it was read, so
 * confidence can follow from it. Nothing here knows the world: a page that lies is read as it lies.
 */
export interface Read<T> {
  value: T;
  form: FactForm;
}

export interface CourseReading {
  holes?: Read<number>;
  par?: Read<number>;
  greenFeeUsd?: Read<number>;
  access?: Read<Access>;
  hasDrivingRange?: Read<boolean>;
  waterHazards?: Read<number>;
  website?: Read<string>;
}

const WORD_VALUES: Record<string, number> = {
  zero: 0,
  no: 0,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  thirteen: 13,
  fourteen: 14,
  fifteen: 15,
  sixteen: 16,
  seventeen: 17,
  eighteen: 18,
  nineteen: 19,
  twenty: 20,
  thirty: 30,
  forty: 40,
  fifty: 50,
  sixty: 60,
  seventy: 70,
  eighty: 80,
  ninety: 90,
};
const WORD =
  '(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:-[a-z]+)?|[a-z]+teen|eleven|twelve|ten|one|two|three|four|five|six|seven|eight|nine|no';

/** `seventy-two` → 72; undefined when it is not a number word. */
export function wordValue(text: string): number | undefined {
  const [tens, ones] = text.toLowerCase().split('-');
  const t = WORD_VALUES[tens ?? ''];
  if (t === undefined) return undefined;
  if (!ones) return t;
  const o = WORD_VALUES[ones];
  return o !== undefined && o < 10 ? t + o : undefined;
}

interface Pattern {
  re: RegExp;
  form: FactForm;
}

const HOLES: Pattern[] = [
  { re: /\bholes?\s*[:|]\s*(\d{1,2})\b/gi, form: 'labelled' },
  { re: /\b(\d{1,2})[- ]hole\b/gi, form: 'labelled' },
  { re: new RegExp(`\\b(${WORD})[- ]hole\\b`, 'gi'), form: 'words' },
];
const PAR: Pattern[] = [
  { re: /\bpar\s*[:|]?\s*(\d{2,3})\b/gi, form: 'labelled' },
  { re: new RegExp(`\\bpar (${WORD})\\b`, 'gi'), form: 'words' },
];
const FEE: Pattern[] = [
  { re: /\bgreen fees?\b[^$\n]{0,24}\$\s?(\d{1,4})\b/gi, form: 'labelled' },
  { re: /\$(\d{1,4})\s*(?:green fee|per round|to play)/gi, form: 'labelled' },
];
const WATER: Pattern[] = [
  { re: /\bwater(?: hazards?| holes)?\s*[:|]\s*(\d{1,2})\b/gi, form: 'labelled' },
  { re: /\b(\d{1,2}) holes? with water\b/gi, form: 'labelled' },
  { re: /\bwater (?:comes into|is in|in) play on (\d{1,2}) holes\b/gi, form: 'prose' },
  { re: new RegExp(`\\bwater (?:comes into|is in|in) play on (${WORD}) holes\\b`, 'gi'), form: 'words' },
  { re: /\b(no) water in play\b/gi, form: 'labelled' },
];
const ACCESS_RE =
  /\b(?:access\s*[:|]?\s*(semi-private|private|public|municipal|resort)|(semi-private|private|public|municipal|resort)\s+(?:golf|course|club|facility|layout))\b/gi;
const RANGE_LABEL = /\bdriving range\s*[:|]\s*(true|false|yes|no)\b/gi;
const RANGE_NEGATIVE = /\bno (?:driving )?range\b|\bwithout a (?:driving )?range\b/i;
const RANGE_POSITIVE = /\bdriving range\b/i;
const URL_RE = /\bhttps?:\/\/[^\s)"'<>\]]+/gi;

/**
 * The first occurrence in the text (the prompt before any search results) that the reader does not
 * miss. A misread takes another number the text contains (two facts confused), else the value ± 1.
 */
function readNumber(text: string, patterns: Pattern[], fact: string, luck: Luck): Read<number> | undefined {
  const found = patterns
    .flatMap((p) => [...text.matchAll(p.re)].map((m) => ({ m, form: p.form })))
    .sort((a, b) => (a.m.index ?? 0) - (b.m.index ?? 0));
  for (const { m, form } of found) {
    const raw = m[1]!;
    const value = /^\d+$/.test(raw) ? Number(raw) : wordValue(raw);
    if (value === undefined) continue;
    const key = `${fact}:${m.index}:${m[0]}:${text.length}`;
    if (luck.roll(`miss:${key}`) < luck.rates.miss[form]) continue;
    if (luck.roll(`misread:${key}`) < luck.rates.misread[form]) {
      const others = [...text.matchAll(/\b\d{1,3}\b/g)].map((x) => Number(x[0])).filter((n) => n !== value);
      const pick = others[Math.floor(luck.roll(`other:${key}`) * others.length)];
      return { value: pick ?? value + 1, form };
    }
    return { value, form };
  }
  return undefined;
}

export function readCourse(text: string, luck: Luck): CourseReading {
  const out: CourseReading = {};
  const holes = readNumber(text, HOLES, 'holes', luck);
  if (holes) out.holes = holes;
  const par = readNumber(text, PAR, 'par', luck);
  if (par) out.par = par;
  const fee = readNumber(text, FEE, 'fee', luck);
  if (fee) out.greenFeeUsd = fee;
  const water = readNumber(text, WATER, 'water', luck);
  if (water) out.waterHazards = water;
  for (const m of text.matchAll(ACCESS_RE)) {
    const value = (m[1] ?? m[2])!.toLowerCase() as Access;
    if (luck.roll(`miss:access:${m.index}:${text.length}`) < luck.rates.miss.labelled) continue;
    out.access = { value, form: 'labelled' };
    break;
  }
  const label = RANGE_LABEL.exec(text);
  RANGE_LABEL.lastIndex = 0;
  if (label) out.hasDrivingRange = { value: /^(true|yes)$/i.test(label[1]!), form: 'labelled' };
  else if (RANGE_NEGATIVE.test(text)) out.hasDrivingRange = { value: false, form: 'prose' };
  else if (RANGE_POSITIVE.test(text)) out.hasDrivingRange = { value: true, form: 'prose' };
  const url = [...text.matchAll(URL_RE)]
    .map((m) => m[0])
    .find((u) => !/linkedin\.com|facebook\.com/i.test(u));
  if (url) out.website = { value: url, form: 'labelled' };
  return out;
}
