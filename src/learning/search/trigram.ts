/**
 * Trigram similarity as pg_trgm computes it (`similarity(a, b)`): each word, lowercased and padded with
 * two spaces before and one after, gives its 3-grams; similarity = shared ÷ all distinct 3-grams.
 * Computed here rather than with the extension: pg_trgm would have to be loaded into every PGlite
 * instance and created per database on the server (an extension is per database, not per schema, which
 * the per-schema test isolation cannot share), for a library of a few hundred names.
 */
export function trigrams(text: string): Set<string> {
  const out = new Set<string>();
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    const w = `  ${word} `;
    for (let i = 0; i + 3 <= w.length; i++) out.add(w.slice(i, i + 3));
  }
  return out;
}

export function similarity(a: string, b: string): number {
  const ta = trigrams(a);
  const tb = trigrams(b);
  if (!ta.size || !tb.size) return 0;
  let shared = 0;
  for (const t of ta) if (tb.has(t)) shared++;
  return shared / (ta.size + tb.size - shared);
}

/** pg_trgm's `word_similarity`: how well `needle` matches the best stretch of `haystack`, word by word. */
export function wordSimilarity(needle: string, haystack: string): number {
  const words = haystack.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const n = needle.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  if (!n.length || !words.length) return 0;
  // each query word's best match among the name's words, averaged: typos in one word still count
  let sum = 0;
  for (const q of n) sum += Math.max(...words.map((w) => similarity(q, w)));
  return sum / n.length;
}
