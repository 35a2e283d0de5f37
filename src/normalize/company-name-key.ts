import { foldKey } from './text.ts';

/**
 * Legal-form words dropped from the end of a company name ("Acme Golf, Inc." = "Acme Golf LLC").
 * Multi-word entries cover dotted forms after punctuation is removed ("L.L.C." → "l l c").
 */
const LEGAL_SUFFIXES: string[][] = [
  'inc',
  'incorporated',
  'llc',
  'l l c',
  'llp',
  'l l p',
  'lp',
  'l p',
  'pllc',
  'ltd',
  'limited',
  'corp',
  'corporation',
  'co',
  'company',
  'plc',
  'p l c',
  'pc',
  'p c',
  'gmbh',
  'mbh',
  'ag',
  'kg',
  'sa',
  's a',
  'sas',
  'sarl',
  'srl',
  'spa',
  'bv',
  'b v',
  'nv',
  'n v',
  'pty',
  'pty ltd',
  'oy',
  'ab',
  'as',
  'kk',
  'co ltd',
].map((s) => s.split(' '));
// longest first, so "pty ltd" goes before "ltd"
LEGAL_SUFFIXES.sort((a, b) => b.length - a.length);
/** Last words of the suffixes: most names end in none of them, and skip the loop. */
const LAST_WORDS = new Set(LEGAL_SUFFIXES.map((s) => s[s.length - 1]!));

/**
 * The dedupe key of a company name: folded (see foldKey), "&" read as "and", a leading "the" and
 * trailing legal forms removed. Returns undefined when nothing meaningful is left.
 *
 * `companyNameKey("The Acme Golf Co., Inc.")` → `"acme golf"`.
 */
export function companyNameKey(name: string | null | undefined): string | undefined {
  if (!name) return undefined;
  const tokens = foldKey(name.replace(/&/g, ' and ')).split(' ').filter(Boolean);
  if (tokens[0] === 'the' && tokens.length > 1) tokens.shift();
  let stripped = true;
  while (stripped && LAST_WORDS.has(tokens[tokens.length - 1] ?? '')) {
    stripped = false;
    for (const suffix of LEGAL_SUFFIXES) {
      // keep at least one word: "Co" alone stays "co"
      if (tokens.length <= suffix.length) continue;
      const tail = tokens.slice(tokens.length - suffix.length);
      if (tail.every((t, i) => t === suffix[i])) {
        tokens.length -= suffix.length;
        stripped = true;
        break;
      }
    }
  }
  const key = tokens.join(' ');
  return key === '' ? undefined : key;
}
