/**
 * Text clean-up shared by every normalizer: trimmed, inner whitespace collapsed, NFC (so "é" typed two
 * ways is one string), unicode otherwise preserved. Empty → undefined, so callers never store "".
 */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

export function cleanText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  const raw = String(value);
  // fast path (most CSV cells): printable ASCII needs no NFC and has no zero-width characters
  if (PRINTABLE_ASCII.test(raw)) {
    const t = raw.includes('  ') ? raw.replace(/ {2,}/g, ' ').trim() : raw.trim();
    return t === '' ? undefined : t;
  }
  const s = raw
    .normalize('NFC')
    // NUL: PostgreSQL text cannot hold it
    .replaceAll('\u0000', '')
    // zero-width characters and BOMs that spreadsheets leave behind
    .replace(/[\u200B-\u200D\u2060\uFEFF]/g, '')
    .replace(/\s+/gu, ' ')
    .trim();
  return s === '' ? undefined : s;
}

/**
 * Comparison key: lowercase, Latin diacritics folded ("Café" → "cafe"), every run of punctuation or
 * whitespace one space. Only marks on Latin letters are dropped: in scripts such as Devanagari the marks
 * are vowels and carry meaning.
 */
export function foldKey(value: string): string {
  if (PRINTABLE_ASCII.test(value)) {
    return value
      .toLowerCase()
      .replace(/['`]/g, '')
      .replace(/[^a-z0-9]+/g, ' ')
      .trim();
  }
  return value
    .normalize('NFKD')
    .replace(/(\p{Script=Latin})\p{M}+/gu, '$1')
    .normalize('NFC')
    .toLowerCase()
    .replace(/[’'`´]/g, '')
    .replace(/[^\p{L}\p{M}\p{N}]+/gu, ' ')
    .trim();
}
