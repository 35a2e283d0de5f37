/**
 * "did you mean …" for a misspelt name: the closest candidates by edit distance (Damerau–Levenshtein,
 * so a swapped pair of letters counts once: `domian` → `domain`), within a third of the name's length.
 */
export function closest(name: string, candidates: Iterable<string>, max = 3): string[] {
  const limit = Math.max(1, Math.floor(name.length / 3));
  const scored: { c: string; d: number }[] = [];
  const lower = name.toLowerCase();
  for (const c of new Set(candidates)) {
    const d = distance(lower, c.toLowerCase());
    // a prefix or suffix match counts too (`web` for `website`), when at least 3 letters long
    const affix = lower.length >= 3 && (c.startsWith(lower) || lower.startsWith(c.toLowerCase()));
    if (d <= limit || affix) scored.push({ c, d: affix ? Math.min(d, limit) : d });
  }
  return scored
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, max)
    .map((s) => s.c);
}

/** ` (did you mean "x" or "y"?)`, or '' when nothing is close. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const found = closest(name, candidates);
  if (!found.length) return '';
  return ` (did you mean ${found.map((f) => `"${f}"`).join(' or ')}?)`;
}

function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
