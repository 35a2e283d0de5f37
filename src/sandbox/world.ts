import { createRng, type Rng, unit } from './rng.ts';
import {
  COURSE_STEMS,
  COURSE_SUFFIXES,
  FIRST_NAMES,
  LAST_NAMES,
  OTHER_COMPANY_NAMES,
  OTHER_TITLES,
  STAFF_TITLES,
  STREET_NAMES,
  VIRGINIA_PLACES,
} from './world-data.ts';

/**
 * The sandbox's synthetic world: Virginia golf courses and other companies, their websites, their
 * people (emails following each domain's pattern, phones, LinkedIn URLs, tenure, previous clubs).
 * Generated from a seed, so it is the ground truth the fakes answer from and the demo scores against.
 */
export type Segment = 'high-end' | 'budget' | 'both';
export type Access = 'private' | 'semi-private' | 'public' | 'municipal' | 'resort';
export const EMAIL_PATTERNS = [
  '{first}.{last}',
  '{f}{last}',
  '{first}',
  '{first}{last}',
  '{first}{l}',
  '{first}_{last}',
  '{last}{f}',
] as const;
export type EmailPattern = (typeof EMAIL_PATTERNS)[number];

export interface Person {
  id: string;
  companyId: string;
  firstName: string;
  lastName: string;
  fullName: string;
  title: string;
  /** Work email at the company's domain (lowercase). */
  email: string;
  /** Direct line in E.164, when the person has one. */
  phone: string | null;
  linkedinUrl: string | null;
  startYear: number;
  tenureYears: number;
  /** Names of clubs the person worked at before. */
  previousClubs: string[];
  /** Listed on the company's staff page. */
  onStaffPage: boolean;
  /**
   * The staff page shows this person's email. Sites that show emails rarely show all of them, which is
   * what makes learning the domain's pattern from the ones shown worthwhile.
   */
  emailOnSite: boolean;
  /**
   * How the person's address relates to the domain's pattern: `pattern` follows it; `nickname`
   * (bob.smith for Robert Smith), `legacy` (an older pattern kept from before the domain changed it)
   * and `collision` (jsmith2, because a former employee had jsmith) break it. See WORLD_RATES.
   */
  emailKind: 'pattern' | 'nickname' | 'legacy' | 'collision';
  /** Set by a month advance (month-advance.ts): the company this person left for their current one. */
  movedFrom?: string;
}

export interface CourseFacts {
  holes: 9 | 18 | 27 | 36;
  par: number;
  waterHazards: number;
  access: Access;
  greenFeeUsd: number;
  segment: Segment;
  /** 1–10: how clear-cut the segment is. */
  segmentConfidence: number;
  hasDrivingRange: boolean;
  yearOpened: number;
  /** 1–10 sales opportunity scores (range_ball_buy, range_ball_lease, ...). */
  opportunities: Record<string, number>;
}

export interface Company {
  id: string;
  kind: 'golf-course' | 'company';
  name: string;
  domain: string;
  /** Home page URL, or null when the company has no website. */
  website: string | null;
  address: string;
  city: string;
  state: 'VA';
  zip: string;
  /** Main line, E.164. */
  phone: string;
  emailPattern: EmailPattern;
  /** Where the staff list is published (null: no staff page). */
  staffPath: string | null;
  /** How the staff page is laid out (0 cards, 1 table, 2 list): the extractor must handle all. */
  staffLayout: 0 | 1 | 2;
  /** Whether the staff page shows emails (for some people: see Person.emailOnSite) / direct phones. */
  showsEmails: boolean;
  showsPhones: boolean;
  /**
   * How the domain's mail server answers verification: `normal` (a mailbox exists or not),
   * `accept-all` (every address is accepted, so nothing can be verified), `unresponsive` (no answer).
   */
  mailServer: 'normal' | 'accept-all' | 'unresponsive';
  /** The green fee the website shows: the real one, an old rate card (a page that lies) or none. */
  siteFeeUsd: number | null;
  /** The home page spells its numbers out ("an eighteen-hole, par seventy-two course"). */
  siteSpellsNumbers: boolean;
  people: Person[];
  course?: CourseFacts;
}

export interface World {
  seed: number;
  /** The year "now" is in the world (tenure is computed against it, so results do not drift). */
  year: number;
  /** Simulated months since generation (`advanceMonth`, src/sandbox/month-advance.ts); 0 or absent at first. */
  month?: number;
  companies: Company[];
  courses: Company[];
  byDomain: Map<string, Company>;
  byEmail: Map<string, Person>;
  people: Person[];
}

export interface WorldOptions {
  /** Number of golf courses. Default 220. */
  courses?: number;
  /** Number of other companies. Default 30. */
  companies?: number;
}

const WORLD_YEAR = 2025;

/**
 * Declared rates of the world's imperfections (decided per subject by hash, so adding them did not
 * reshuffle the world's other facts). The docs (docs/sandbox.md) list the same numbers.
 */
export const WORLD_RATES = {
  /** People with a common nickname whose address uses it (of those whose first name has one). */
  nicknameEmail: 0.15,
  /** Domains that changed their pattern; people hired before 2012 there keep the old one. */
  legacyPatternDomain: 0.25,
  /** People whose pattern address was taken by a former employee: a digit is appended. */
  collisionEmail: 0.04,
  /** Domains whose mail server accepts every address / does not answer verification. */
  acceptAllDomain: 0.18,
  unresponsiveDomain: 0.06,
  /** Course websites that publish no green fee / publish an outdated one (a page that lies). */
  siteNoFee: 0.12,
  siteStaleFee: 0.08,
  /** Course home pages that spell their numbers out. */
  siteSpelledNumbers: 0.1,
} as const;

export const NICKNAMES: Readonly<Record<string, string>> = {
  Robert: 'Bob',
  William: 'Bill',
  Michael: 'Mike',
  James: 'Jim',
  Richard: 'Rick',
  Joseph: 'Joe',
  Thomas: 'Tom',
  Christopher: 'Chris',
  Daniel: 'Dan',
  Matthew: 'Matt',
  Anthony: 'Tony',
  Steven: 'Steve',
  Andrew: 'Andy',
  Joshua: 'Josh',
  Gregory: 'Greg',
  Patrick: 'Pat',
  Elizabeth: 'Liz',
  Jennifer: 'Jen',
  Rebecca: 'Becky',
  Jessica: 'Jess',
  Susan: 'Sue',
  Amanda: 'Mandy',
  Megan: 'Meg',
};

/** `Ford’s Colony` -> `fordscolony`. */
export function slugify(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/&/g, 'and')
    .replace(/[^a-z0-9]+/g, '');
}

/** Applies a Hunter-style pattern to a person's name. */
export function applyPattern(pattern: EmailPattern, first: string, last: string, domain: string): string {
  const f = slugify(first);
  const l = slugify(last);
  const local = pattern
    .replace('{first}', f)
    .replace('{last}', l)
    .replace('{f}', f.slice(0, 1))
    .replace('{l}', l.slice(0, 1));
  return `${local}@${domain}`;
}

function phoneNumber(rng: Rng, areaCode: string): string {
  // Exchange 2xx–9xx and not N11: valid under the NANP, so libphonenumber accepts it.
  let exchange = rng.int(200, 989);
  if (exchange % 100 === 11) exchange += 1;
  return `+1${areaCode}${exchange}${String(rng.int(1000, 9999))}`;
}

function courseFacts(rng: Rng, access: Access): CourseFacts {
  const holes = rng.pick([9, 18, 18, 18, 18, 27, 36] as const);
  const baseFee = { private: 120, resort: 150, 'semi-private': 65, public: 45, municipal: 28 }[access];
  const greenFeeUsd = Math.round(baseFee * (0.7 + rng.next() * 0.7));
  const segment: Segment = greenFeeUsd >= 95 ? 'high-end' : greenFeeUsd <= 45 ? 'budget' : 'both';
  const edge =
    segment === 'both'
      ? Math.min(Math.abs(greenFeeUsd - 45), Math.abs(95 - greenFeeUsd))
      : Math.abs(greenFeeUsd - 70);
  const segmentConfidence = Math.max(4, Math.min(10, 5 + Math.round(edge / 12)));
  const hasDrivingRange = rng.chance(access === 'municipal' ? 0.6 : 0.85);
  const highEnd = segment === 'high-end' ? 1 : segment === 'both' ? 0.5 : 0;
  const score = (x: number) => Math.max(1, Math.min(10, Math.round(x)));
  return {
    holes,
    par: holes === 9 ? rng.pick([34, 35, 36]) : holes === 18 ? rng.pick([70, 71, 72, 72, 72]) : 72,
    waterHazards: rng.int(0, holes === 9 ? 5 : 14),
    access,
    greenFeeUsd,
    segment,
    segmentConfidence,
    hasDrivingRange,
    yearOpened: rng.int(1905, 2012),
    opportunities: {
      range_ball_buy: hasDrivingRange ? score(3 + (1 - highEnd) * 5 + rng.next() * 2) : 1,
      range_ball_lease: hasDrivingRange ? score(3 + highEnd * 5 + rng.next() * 2) : 1,
      range_equipment: hasDrivingRange ? score(2 + rng.next() * 7) : 2,
      ball_dispenser: hasDrivingRange ? score(2 + rng.next() * 6) : 1,
    },
  };
}

/** Builds the world for a seed. Same seed and options -> identical world. */
export function generateWorld(seed = 1, options: WorldOptions = {}): World {
  const rng = createRng(seed, 'world');
  const nCourses = options.courses ?? 220;
  const nCompanies = options.companies ?? 30;
  const companies: Company[] = [];
  const usedNames = new Set<string>();
  const usedDomains = new Set<string>();
  const usedEmails = new Set<string>();

  const uniqueDomain = (base: string) => {
    let d = `${base}.com`;
    for (let i = 2; usedDomains.has(d); i++) d = `${base}${i === 2 ? 'va' : `va${i}`}.com`;
    usedDomains.add(d);
    return d;
  };

  const makePeople = (company: Company, titles: readonly string[], prng: Rng, courseNames: string[]) => {
    const count = company.kind === 'golf-course' ? prng.int(2, 5) : prng.int(1, 3);
    const chosen = new Set<string>();
    // Every course lists a general manager or head professional first: the people sellers want.
    chosen.add(company.kind === 'golf-course' ? prng.pick(titles.slice(0, 2)) : prng.pick(titles));
    while (chosen.size < count) chosen.add(prng.pick(titles));
    let i = 0;
    for (const title of chosen) {
      let first: string = prng.pick(FIRST_NAMES);
      let last: string = prng.pick(LAST_NAMES);
      let email = applyPattern(company.emailPattern, first, last, company.domain);
      for (let tries = 0; usedEmails.has(email) && tries < 20; tries++) {
        first = prng.pick(FIRST_NAMES);
        last = prng.pick(LAST_NAMES);
        email = applyPattern(company.emailPattern, first, last, company.domain);
      }
      usedEmails.add(email);
      const startYear = prng.int(1998, WORLD_YEAR - 1);
      const previousClubs: string[] = [];
      const nPrev = company.kind === 'golf-course' ? prng.int(0, 3) : 0;
      for (let k = 0; k < nPrev && courseNames.length > 0; k++) {
        const club = prng.pick(courseNames);
        if (club !== company.name && !previousClubs.includes(club)) previousClubs.push(club);
      }
      const place = VIRGINIA_PLACES.find((p) => p.city === company.city)!;
      company.people.push({
        id: `${company.id}-p${i++}`,
        companyId: company.id,
        firstName: first,
        lastName: last,
        fullName: `${first} ${last}`,
        title,
        email,
        phone: prng.chance(0.55) ? phoneNumber(prng, place.areaCode) : null,
        linkedinUrl: prng.chance(0.85)
          ? `https://www.linkedin.com/in/${slugify(first)}-${slugify(last)}-${prng.int(0x1000, 0xffff).toString(16)}`
          : null,
        startYear,
        tenureYears: WORLD_YEAR - startYear,
        previousClubs,
        onStaffPage: prng.chance(0.88),
        emailOnSite: false,
        emailKind: 'pattern',
      });
    }
  };

  const baseCompany = (
    id: string,
    kind: Company['kind'],
    name: string,
    domainBase: string,
    prng: Rng,
    websiteRate: number,
  ): Company => {
    const place = prng.pick(VIRGINIA_PLACES);
    const domain = uniqueDomain(domainBase);
    return {
      id,
      kind,
      name,
      domain,
      website: prng.chance(websiteRate) ? `https://www.${domain}/` : null,
      address: `${prng.int(100, 9899)} ${prng.pick(STREET_NAMES)}`,
      city: place.city,
      state: 'VA',
      zip: place.zip,
      phone: phoneNumber(prng, place.areaCode),
      emailPattern: prng.pick(EMAIL_PATTERNS),
      staffPath: prng.pick(['/staff', '/about/staff', '/our-team', '/contact', null, '/staff'] as const),
      staffLayout: prng.pick([0, 1, 2] as const),
      showsEmails: prng.chance(0.4),
      showsPhones: prng.chance(0.3),
      mailServer: 'normal',
      siteFeeUsd: null,
      siteSpellsNumbers: false,
      people: [],
    };
  };

  for (let i = 0; i < nCourses; i++) {
    let name = '';
    let suffix: (typeof COURSE_SUFFIXES)[number] = COURSE_SUFFIXES[0];
    let stem = '';
    for (let tries = 0; tries < 1000; tries++) {
      stem = i < COURSE_STEMS.length && tries === 0 ? COURSE_STEMS[i]! : rng.pick(COURSE_STEMS);
      suffix = rng.pick(COURSE_SUFFIXES);
      name = stem.startsWith('The ') || stem.includes('Resort') ? stem : `${stem} ${suffix.suffix}`;
      if (!usedNames.has(name)) break;
    }
    usedNames.add(name);
    const prng = createRng(seed, `course:${i}`);
    const company = baseCompany(
      `c${i + 1}`,
      'golf-course',
      name,
      `${slugify(stem)}${suffix.domainTag}`,
      prng,
      0.93,
    );
    company.course = courseFacts(prng, suffix.access);
    companies.push(company);
  }
  const courseNames = companies.map((c) => c.name);
  for (const course of companies)
    makePeople(course, STAFF_TITLES, createRng(seed, `people:${course.id}`), courseNames);

  for (let i = 0; i < nCompanies; i++) {
    const name =
      OTHER_COMPANY_NAMES[i % OTHER_COMPANY_NAMES.length]! + (i >= OTHER_COMPANY_NAMES.length ? ` ${i}` : '');
    const prng = createRng(seed, `company:${i}`);
    const company = baseCompany(`o${i + 1}`, 'company', name, slugify(name), prng, 0.97);
    makePeople(company, OTHER_TITLES, prng, []);
    companies.push(company);
  }

  // Decided by hash, not by the generators' streams, so adding this did not reshuffle older worlds.
  for (const c of companies) {
    for (const p of c.people)
      p.emailOnSite = c.showsEmails && p.onStaffPage && unit(seed, `site-email:${p.id}`) < 0.65;
  }
  for (const c of companies) addImperfections(seed, c, usedEmails);
  const people = companies.flatMap((c) => c.people);
  return {
    seed,
    year: WORLD_YEAR,
    companies,
    courses: companies.filter((c) => c.kind === 'golf-course'),
    byDomain: new Map(companies.map((c) => [c.domain, c])),
    byEmail: new Map(people.map((p) => [p.email, p])),
    people,
  };
}

/** The world's declared imperfections for one company (see WORLD_RATES); hash-decided. */
function addImperfections(seed: number, c: Company, usedEmails: Set<string>): void {
  const r = (key: string) => unit(seed, `${key}:${c.id}`);
  const mail = r('mail-server');
  c.mailServer =
    mail < WORLD_RATES.acceptAllDomain
      ? 'accept-all'
      : mail < WORLD_RATES.acceptAllDomain + WORLD_RATES.unresponsiveDomain
        ? 'unresponsive'
        : 'normal';
  const fee = r('site-fee');
  const truth = c.course?.greenFeeUsd ?? null;
  c.siteFeeUsd =
    truth === null || fee < WORLD_RATES.siteNoFee
      ? null
      : fee < WORLD_RATES.siteNoFee + WORLD_RATES.siteStaleFee
        ? Math.round(truth * (0.55 + r('stale-fee') * 0.2))
        : truth;
  c.siteSpellsNumbers = r('site-words') < WORLD_RATES.siteSpelledNumbers;
  const legacy =
    r('legacy-pattern') < WORLD_RATES.legacyPatternDomain
      ? EMAIL_PATTERNS[(EMAIL_PATTERNS.indexOf(c.emailPattern) + 3) % EMAIL_PATTERNS.length]!
      : undefined;
  for (const p of c.people) {
    const u = (key: string) => unit(seed, `${key}:${p.id}`);
    let email: string | undefined;
    let kind: Person['emailKind'] = 'pattern';
    const nick = NICKNAMES[p.firstName];
    if (nick && u('nickname') < WORLD_RATES.nicknameEmail) {
      email = applyPattern(c.emailPattern, nick, p.lastName, c.domain);
      kind = 'nickname';
    } else if (legacy && p.startYear < 2012) {
      email = applyPattern(legacy, p.firstName, p.lastName, c.domain);
      kind = 'legacy';
    } else if (u('collision') < WORLD_RATES.collisionEmail) {
      email = p.email.replace('@', '2@');
      kind = 'collision';
    }
    p.emailKind = 'pattern';
    if (!email || usedEmails.has(email)) continue;
    usedEmails.delete(p.email);
    usedEmails.add(email);
    p.email = email;
    p.emailKind = kind;
  }
}

/** Finds the company a host name belongs to (`www.kinlochgc.com` -> Kinloch). */
export function companyForHost(world: World, host: string): Company | undefined {
  const h = host
    .toLowerCase()
    .replace(/:\d+$/, '')
    .replace(/^www\./, '');
  return world.byDomain.get(h);
}
