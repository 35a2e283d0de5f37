/**
 * The parts of a retrospective a person writes live between markers (doctoc's convention):
 *   <!-- sluice:human learnings -->
 *   …whatever the person wrote…
 *   <!-- /sluice:human learnings -->
 * Regenerating replaces everything else and puts each section's text back where it was. A section the
 * new layout no longer has is appended at the end rather than dropped: what a person wrote is never lost.
 */
const SECTION = /<!-- sluice:human ([a-z][a-z0-9-]*) -->\n?([\s\S]*?)<!-- \/sluice:human \1 -->/g;

export function humanSections(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of markdown.matchAll(SECTION)) out.set(m[1]!, m[2]!);
  return out;
}

export function humanSection(name: string, body: string): string {
  return `<!-- sluice:human ${name} -->\n${body.endsWith('\n') ? body : `${body}\n`}<!-- /sluice:human ${name} -->`;
}

/** The generated markdown with every human section's text taken from `previous` (when given). */
export function mergeHumanSections(generated: string, previous: string | null): string {
  if (!previous) return generated;
  const kept = humanSections(previous);
  const placed = new Set<string>();
  const merged = generated.replace(SECTION, (whole, name: string) => {
    const text = kept.get(name);
    if (text === undefined) return whole;
    placed.add(name);
    return humanSection(name, text);
  });
  const orphans = [...kept].filter(([name]) => !placed.has(name));
  if (!orphans.length) return merged;
  return `${merged.trimEnd()}\n\n## Kept from an earlier version of this retrospective\n\n${orphans
    .map(([name, text]) => humanSection(name, text))
    .join('\n\n')}\n`;
}
