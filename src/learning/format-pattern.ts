import type { PositionStat } from './deployment-stats.ts';
import type { PatternReport } from './pattern-stats.ts';

/**
 * A pattern in the seeds' format (shared/seeds/004): Pattern / Use Case / Sequence / Performance /
 * Failure Modes. Measured figures always say over how many records, calls or deployments; the
 * author's documented figures are printed apart, labelled as such.
 */
export const pct = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined ? '-' : `${(x * 100).toFixed(digits)}%`;
export const usd = (x: number | null | undefined) =>
  x === null || x === undefined ? '-' : `$${x < 10 ? x.toFixed(4) : x.toFixed(2)}`;
const secs = (x: number | null) =>
  x === null ? '-' : x < 60 ? `${x.toFixed(1)} s` : `${(x / 60).toFixed(1)} min`;

export function formatPattern(p: PatternReport): string[] {
  const v = p.versions.at(-1);
  const lines: string[] = [];
  lines.push(`Pattern: ${p.name}`);
  lines.push(
    `  ${p.slug}${v ? ` v${v.version}` : ''} · ${p.category} · maturity ${p.maturity}${p.signature && p.maturity !== 'signature' ? ' (flagged signature)' : ''} · ${p.maturityReason}`,
  );
  lines.push(`Use Case: ${p.useCase || '-'}`);
  const ctx = [
    p.industries.length ? `industry ${p.industries.join(', ')}` : 'any industry',
    p.stages.length ? `stage ${p.stages.join(', ')}` : 'any stage',
    p.companySize ? `size ${p.companySize}` : '',
  ].filter(Boolean);
  lines.push(`Context: ${ctx.join(' · ')}`);
  lines.push('Sequence:');
  p.architecture
    .split('\n')
    .filter(Boolean)
    .forEach((s, i) => {
      lines.push(`  ${i + 1}. ${s}`);
    });
  const m = p.measured;
  const waterfalls = groupPositions(m?.positions ?? []);
  for (const [step, rows] of waterfalls) {
    lines.push(`  measured, waterfall ${step}:`);
    for (const r of rows) {
      const price = m?.providers.find((x) => x.provider === r.provider && x.operation === r.operation);
      const perCall = price?.requests ? price.costUsd / price.requests : null;
      lines.push(
        `    ${r.position}. ${r.provider}.${r.operation} → won ${pct(r.tried ? r.wins / r.tried : null)} of ${r.tried} tried` +
          `${r.rejected ? `, ${r.rejected} rejected by the validator` : ''}${r.errors ? `, ${r.errors} errors` : ''}` +
          `${perCall !== null && price ? `, ${usd(perCall)}/request (n=${price.requests})` : ''}`,
      );
    }
  }
  lines.push(...formatPerformance(p));
  const d = p.documented;
  if (Object.keys(d).length) {
    lines.push(
      `Documented benchmarks (typed by the author${d.source ? `, ${d.source}` : ''}; not measured):`,
    );
    const parts = [
      d.coverage !== undefined ? `coverage ${pct(d.coverage, 0)}` : '',
      d.cost_per_record_usd !== undefined ? `cost ${usd(d.cost_per_record_usd)}/record` : '',
      d.speed ? `speed ${d.speed}` : '',
      d.quality ? `quality ${d.quality}` : '',
    ].filter(Boolean);
    if (parts.length) lines.push(`  ${parts.join(', ')}`);
    if (d.coverage_note) lines.push(`  ${d.coverage_note}`);
    for (const s of d.steps ?? [])
      lines.push(
        `  - ${s.label}${s.hit_rate !== undefined ? ` → ${pct(s.hit_rate, 0)} hit rate` : ''}${s.cost_usd !== undefined ? `, ${usd(s.cost_usd)}` : ''}`,
      );
  }
  lines.push('Failure Modes:');
  for (const f of p.failureModes) lines.push(`  - ${f}`);
  if (!p.failureModes.length) lines.push('  - (none written yet)');
  return lines;
}

export function formatPerformance(p: PatternReport): string[] {
  const m = p.measured;
  const lines: string[] = [];
  if (!m || m.records === 0) {
    lines.push('Performance (measured): no deployment has run yet: nothing measured.');
    return lines;
  }
  lines.push(
    `Performance (measured over ${p.deployments.length} deployment(s), ${p.engagements.length} engagement(s), ${m.runs.total} runs):`,
  );
  lines.push(`  coverage ${pct(m.coverage)} of ${m.records} records had a value written`);
  for (const s of m.steps.filter((x) => x.found + x.notFound > 0 && x.hitRate !== null))
    lines.push(
      `  ${s.step}: found ${pct(s.hitRate)} of ${s.found + s.notFound} that ran (${s.skipped} skipped)`,
    );
  lines.push(
    `  cost ${usd(m.costPerRecordUsd)}/record (n=${m.records}), ${usd(m.costPerFoundValueUsd)}/found value (n=${m.values}), ${usd(m.costUsd)} in ${m.requests} requests, ${m.cacheHits} cache hits`,
  );
  lines.push(
    `  speed ${secs(m.speed.p50S)} per record p50, ${secs(m.speed.p90S)} p90 (n=${m.speed.n} runs that made requests); ${secs(m.speed.wallS)} batch wall time`,
  );
  for (const q of m.quality)
    lines.push(
      `  quality ${q.field}: verified ${pct(q.verified / q.values)}, bounced ${pct(q.bounced / q.values)}, corrected ${pct(q.corrected / q.values)} (n=${q.values} values)`,
    );
  const si = p.successInterval;
  lines.push(
    `  success ${p.successes} of ${p.evaluated} judged deployments${si ? ` (95% interval ${pct(si.low)}–${pct(si.high)}, Wilson lower bound ${pct(si.low)})` : ''}`,
  );
  for (const d of p.deployments)
    lines.push(
      `    deployment ${d.id} (${d.engagement}, v${d.version}, ${d.stats.records} records): ${d.success === null ? 'not judged' : d.success ? 'success' : 'failure'}: ${d.why}`,
    );
  return lines;
}

function groupPositions(rows: PositionStat[]): Map<string, PositionStat[]> {
  const out = new Map<string, PositionStat[]>();
  for (const r of rows) {
    const list = out.get(r.step) ?? [];
    list.push(r);
    out.set(r.step, list);
  }
  return out;
}
