/**
 * The Wilson score interval of a proportion (successes of n trials): unlike successes/n it says how
 * little 1 of 1 proves. z = 1.96 is the 95% two-sided interval. Null for n = 0.
 */
export function wilsonInterval(successes: number, n: number, z = 1.96): { low: number; high: number } | null {
  if (n <= 0) return null;
  const p = successes / n;
  const z2 = z * z;
  const centre = p + z2 / (2 * n);
  const margin = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  const d = 1 + z2 / n;
  return { low: Math.max(0, (centre - margin) / d), high: Math.min(1, (centre + margin) / d) };
}

export function wilsonLower(successes: number, n: number, z = 1.96): number | null {
  return wilsonInterval(successes, n, z)?.low ?? null;
}
