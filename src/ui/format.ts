/** How the dashboard writes numbers, money, durations and times (one place, so every page agrees). */

export function usd(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  // Whole cents as cents; sub-cent prices (a lookup often costs $0.017) with up to 4 decimals.
  const cents = Math.abs(n * 100 - Math.round(n * 100)) < 1e-6;
  if (cents || Math.abs(n) >= 100) return `$${n.toFixed(digits)}`;
  return `$${n.toFixed(4).replace(/0{1,2}$/, '')}`;
}

export function int(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  return Math.round(n).toLocaleString('en-US');
}

export function pct(part: number, whole: number): string {
  if (!whole) return '-';
  return `${((100 * part) / whole).toFixed(1)}%`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** UTC, to the second: the same on every machine (the database's times are UTC too). */
export function time(d: Date | string | null | undefined): string {
  if (d === null || d === undefined) return '-';
  const x = d instanceof Date ? d : new Date(d);
  if (Number.isNaN(x.getTime())) return '-';
  return `${x.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** A JSON value as one short line (the records table, lineage). */
export function short(v: unknown, max = 80): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
