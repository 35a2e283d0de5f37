import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileContacts, extractContacts } from '../src/pipelines/steps/output-mapping.ts';
import { extractPage } from '../src/providers/website/extract.ts';
import { SAMPLE_SEED, sampleCsv } from '../src/sandbox/sample-csv.ts';
import { renderPage } from '../src/sandbox/site-render.ts';
import { applyPattern, generateWorld } from '../src/sandbox/world.ts';

describe('sandbox world', () => {
  it('is deterministic: same seed, same world; another seed, another world', () => {
    const a = JSON.stringify(generateWorld(42).companies);
    expect(JSON.stringify(generateWorld(42).companies)).toBe(a);
    expect(JSON.stringify(generateWorld(43).companies)).not.toBe(a);
  });

  it('holds 200+ Virginia golf courses; most people follow their domain’s email pattern, some break it', () => {
    const w = generateWorld(1);
    expect(w.courses.length).toBeGreaterThanOrEqual(200);
    expect(new Set(w.courses.map((c) => c.domain)).size).toBe(w.courses.length);
    const kinds: Record<string, number> = {};
    for (const c of w.companies) {
      expect(c.state).toBe('VA');
      expect(c.phone).toMatch(/^\+1\d{10}$/);
      for (const p of c.people) {
        kinds[p.emailKind] = (kinds[p.emailKind] ?? 0) + 1;
        const pattern = applyPattern(c.emailPattern, p.firstName, p.lastName, c.domain);
        if (p.emailKind === 'pattern') expect(p.email).toBe(pattern);
        else expect(p.email).not.toBe(pattern);
      }
    }
    expect(new Set(w.people.map((p) => p.email)).size).toBe(w.people.length);
    // Nicknames, legacy addresses and collisions all occur, and most people still follow the pattern.
    expect(kinds.nickname).toBeGreaterThan(0);
    expect(kinds.legacy).toBeGreaterThan(0);
    expect(kinds.collision).toBeGreaterThan(0);
    expect(kinds.pattern! / w.people.length).toBeGreaterThan(0.7);
    expect(w.companies.some((c) => c.mailServer === 'accept-all')).toBe(true);
    expect(w.companies.some((c) => c.mailServer === 'unresponsive')).toBe(true);
    // Some course sites publish an outdated fee: pages that lie.
    expect(w.courses.some((c) => c.siteFeeUsd !== null && c.siteFeeUsd !== c.course!.greenFeeUsd)).toBe(true);
  });

  it('the bundled sample CSV is the one the generator writes (regenerate with src/sandbox/write-sample.ts)', () => {
    const bundled = readFileSync(new URL('../data/virginia-golf-courses.csv', import.meta.url), 'utf8');
    expect(bundled).toBe(sampleCsv(generateWorld(SAMPLE_SEED)));
    expect(bundled.trim().split('\n')).toHaveLength(201);
  });

  it('staff pages in every layout yield the listed staff to the website extractor', () => {
    const w = generateWorld(5);
    let checked = 0;
    for (const c of w.companies) {
      if (!c.website || !c.staffPath) continue;
      const facts = extractPage(renderPage(c, c.staffPath)!.html, `${c.website}${c.staffPath.slice(1)}`);
      const listed = c.people.filter((p) => p.onStaffPage);
      expect(facts.staff.map((s) => s.name)).toEqual(listed.map((p) => p.fullName));
      for (const [i, s] of facts.staff.entries()) {
        expect(s.title).toBe(listed[i]!.title);
        expect(s.email).toBe(listed[i]!.emailOnSite ? listed[i]!.email : null);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('staff become contacts with their names split by the one splitter: "Van Dyke" stays the last name', () => {
    const w = generateWorld(1);
    const c = w.courses.find(
      (x) => x.website && x.staffPath && x.people.some((p) => p.lastName === 'Van Dyke' && p.onStaffPage),
    )!;
    const facts = extractPage(renderPage(c, c.staffPath!)!.html, `${c.website}${c.staffPath!.slice(1)}`);
    const spec = compileContacts({ from: 'staff', fields: { full_name: 'name', title: 'title' } }, [
      'contacts',
    ])!;
    const found = extractContacts(spec, { staff: facts.staff }, []);
    const vanDyke = found.find((f) => f.last_name === 'Van Dyke');
    expect(vanDyke).toBeDefined();
    expect(String(vanDyke!.full_name)).toBe(`${vanDyke!.first_name} Van Dyke`);
  });
});
