import { createRng, unit } from '../rng.ts';
import { displayPhone, htmlToMarkdown, renderPage } from '../site-render.ts';
import { type Company, type Person, slugify, type World } from '../world.ts';

/**
 * The sandbox's simulated web-search index: what a search engine would hold about the world. Course
 * websites, a golf directory, LinkedIn profiles, club news about hires and staff directories with
 * direct lines, each indexed only at a declared coverage; some documents are wrong (a namesake's
 * profile ranked first, an old start year, a stale direct line, a directory's wrong water count) and
 * say nothing about it. The Perplexity fake and the sandbox model (asked about people) answer from
 * what `search` returns, read by the reader: never from the world directly.
 */
export const SEARCH_RATES = {
  /** Each page of a course website. */
  pageIndexed: 0.85,
  /** A golf-directory listing of the course (address, main line, holes, par, water hazards). */
  directoryListed: 0.6,
  /** The directory's water-hazard count is wrong. */
  directoryWrongWater: 0.15,
  /** A person's LinkedIn profile. */
  profileIndexed: 0.75,
  /** A namesake's profile (another person, same name) ranks above the real one. */
  namesakeProfile: 0.08,
  /** Club news about the person's hire (start year, previous clubs). */
  bioIndexed: 0.5,
  /** That news is about an earlier stint: start year off by 2–4 years. */
  staleBio: 0.1,
  /** A staff directory lists the person's direct line (of people who have one). */
  directLineListed: 0.45,
  /** The listed direct line is an old number. */
  staleDirectLine: 0.1,
} as const;

export interface SearchResult {
  url: string;
  title: string;
  text: string;
}

export interface SearchIndex {
  /** Up to `limit` results for a query, best first; [] when nothing matches. */
  search(query: string, limit?: number): SearchResult[];
}

const hex = (seed: number, key: string) => Math.floor(unit(seed, key) * 0xefff + 0x1000).toString(16);

function otherNumber(seed: number, key: string, like: string): string {
  const rng = createRng(seed, key);
  return `${like.slice(0, 5)}${rng.int(200, 989)}${rng.int(1000, 9999)}`;
}

export function createSearchIndex(world: World, seed = world.seed): SearchIndex {
  const indexed = (kind: string, id: string, rate: number) => unit(seed, `index:${kind}:${id}`) < rate;

  // Rendering a site is the costly part of a query: once per company.
  const built = new Map<string, SearchResult[]>();
  const companyDocs = (c: Company): SearchResult[] => {
    const cached = built.get(c.id);
    if (cached) return cached;
    const docs: SearchResult[] = [];
    built.set(c.id, docs);
    if (c.website) {
      const paths = [
        '/',
        '/course',
        '/contact',
        ...(c.staffPath && c.staffPath !== '/contact' ? [c.staffPath] : []),
      ];
      for (const path of paths) {
        const page = renderPage(c, path);
        const url = `${c.website}${path.slice(1)}`;
        if (!page || !indexed('page', url, SEARCH_RATES.pageIndexed)) continue;
        const text = htmlToMarkdown(page.html.replace(/<header>[\s\S]*?<\/header>/, ''));
        docs.push({ url, title: page.title, text: text.slice(0, 2_000) });
      }
    }
    const course = c.course;
    if (course && indexed('directory', c.id, SEARCH_RATES.directoryListed)) {
      const wrong = unit(seed, `directory-water:${c.id}`) < SEARCH_RATES.directoryWrongWater;
      const water = wrong
        ? Math.max(0, course.waterHazards + (unit(seed, `dw:${c.id}`) < 0.5 ? -2 : 3))
        : course.waterHazards;
      docs.push({
        url: `https://www.virginiagolfdirectory.com/courses/${slugify(c.name)}`,
        title: `${c.name} | Virginia Golf Directory`,
        text: `${c.name}, ${c.address}, ${c.city}, VA ${c.zip}. Phone: ${displayPhone(c.phone)}. Holes: ${course.holes}. Par: ${course.par}. Water hazards: ${water}.`,
      });
    }
    return docs;
  };

  const personDocs = (c: Company, p: Person): SearchResult[] => {
    const docs: SearchResult[] = [];
    if (unit(seed, `namesake:${p.id}`) < SEARCH_RATES.namesakeProfile) {
      docs.push({
        url: `https://www.linkedin.com/in/${slugify(p.firstName)}-${slugify(p.lastName)}-${hex(seed, `namesake-id:${p.id}`)}`,
        title: `${p.fullName} - Golf Operations - Virginia | LinkedIn`,
        text: `${p.fullName} · Golf Operations · Virginia, United States`,
      });
    }
    if (p.linkedinUrl && indexed('profile', p.id, SEARCH_RATES.profileIndexed)) {
      const prev = p.previousClubs.length ? ` · Previously: ${p.previousClubs.join(', ')}` : '';
      docs.push({
        url: p.linkedinUrl,
        title: `${p.fullName} - ${p.title} - ${c.name} | LinkedIn`,
        text: `${p.fullName} · ${p.title} at ${c.name} since ${p.startYear} · ${c.city}, Virginia${prev}`,
      });
    }
    if (indexed('bio', p.id, SEARCH_RATES.bioIndexed)) {
      const stale = unit(seed, `stale-bio:${p.id}`) < SEARCH_RATES.staleBio;
      const year = stale ? p.startYear - 2 - Math.floor(unit(seed, `sb:${p.id}`) * 3) : p.startYear;
      const prev = !stale && p.previousClubs.length ? `, after working at ${p.previousClubs.join(', ')}` : '';
      docs.push({
        url: `${c.website ?? `https://www.${c.domain}/`}news/${slugify(p.fullName)}`,
        title: `${c.name} welcomes ${p.fullName}`,
        text: `${p.fullName} joined ${c.name} as ${p.title} in ${year}${prev}.`,
      });
    }
    if (p.phone && indexed('direct-line', p.id, SEARCH_RATES.directLineListed)) {
      const stale = unit(seed, `stale-line:${p.id}`) < SEARCH_RATES.staleDirectLine;
      const phone = stale ? otherNumber(seed, `old-line:${p.id}`, p.phone) : p.phone;
      docs.push({
        url: `https://www.golfstaffdirectory.com/${slugify(c.name)}`,
        title: `${c.name} staff directory`,
        text: `${p.fullName}, ${p.title}, direct ${displayPhone(phone, 1)}`,
      });
    }
    return docs;
  };

  const subjectOf = (query: string): Company | undefined => {
    const lower = query.toLowerCase();
    for (const m of lower.matchAll(/(?:[a-z0-9-]+\.)+[a-z]{2,}/g)) {
      const c = world.byDomain.get(m[0].replace(/^www\./, ''));
      if (c) return c;
    }
    let best: Company | undefined;
    for (const c of world.companies) {
      if (lower.includes(c.name.toLowerCase()) && c.name.length > (best?.name.length ?? 0)) best = c;
    }
    return best;
  };

  return {
    search(query, limit = 6) {
      const company = subjectOf(query);
      if (!company) return [];
      const lower = query.toLowerCase();
      const person = company.people.find((p) => lower.includes(p.fullName.toLowerCase()));
      const docs = [...(person ? personDocs(company, person) : []), ...companyDocs(company)];
      // A person query ranks the pages naming the person first (a staff page over the home page).
      if (person)
        docs.sort(
          (a, b) => Number(b.text.includes(person.fullName)) - Number(a.text.includes(person.fullName)),
        );
      return docs.slice(0, limit);
    },
  };
}

/** Search results as a model reads them: one block per result, the URL on the title line. */
export function formatResults(results: readonly SearchResult[]): string {
  return results.map((r, i) => `[${i + 1}] ${r.title} (${r.url})\n${r.text}`).join('\n\n');
}
