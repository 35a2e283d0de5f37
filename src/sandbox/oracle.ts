import { unit } from './rng.ts';
import type { Company, Person, World } from './world.ts';

/**
 * How the sandbox's AI answers (the sandbox LLM and the Perplexity fake): find the company and person a
 * prompt is about, then fill whatever JSON schema was asked for from the world's ground truth, by
 * property name. A little seeded noise (water hazards off by one now and then) keeps accuracy honest.
 */
export interface Subject {
  company: Company | undefined;
  person: Person | undefined;
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
};

export function findSubject(world: World, text: string): Subject {
  const lower = text.toLowerCase();
  let company: Company | undefined;
  for (const m of lower.matchAll(/(?:[a-z0-9-]+\.)+[a-z]{2,}/g)) {
    company = world.byDomain.get(m[0].replace(/^www\./, ''));
    if (company) break;
  }
  if (!company) {
    let best = 0;
    for (const c of world.companies) {
      const name = c.name.toLowerCase();
      if (name.length > best && lower.includes(name)) {
        company = c;
        best = name.length;
      }
    }
  }
  const pool = company ? company.people : world.people;
  const person = pool.find((p) => lower.includes(p.fullName.toLowerCase()));
  return {
    company: company ?? (person ? world.companies.find((c) => c.id === person.companyId) : undefined),
    person,
  };
}

function typeOf(s: JsonSchema): string {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
  if (t) return t;
  const alt = (s.anyOf ?? s.oneOf)?.find((x) => x.type !== 'null');
  return alt ? typeOf(alt) : s.properties ? 'object' : 'string';
}

const nullable = (s: JsonSchema) =>
  (Array.isArray(s.type) && s.type.includes('null')) ||
  Boolean((s.anyOf ?? s.oneOf)?.some((x) => x.type === 'null'));

function scale10(s: JsonSchema, v: number): number {
  return s.maximum !== undefined && s.maximum <= 1 ? Math.round(v) / 10 : v;
}

function starters(company: Company): { text: string; score: number }[] {
  const c = company.course;
  const out = [
    {
      text: `I noticed ${company.name} ${c?.hasDrivingRange ? 'runs a busy driving range' : 'is planning practice-area upgrades'} — how do you keep range balls fresh through the season?`,
      score: 9,
    },
    {
      text: `Many ${c?.segment === 'budget' ? 'value-focused public' : 'premium'} courses in ${company.city} are moving to leased range balls; is that on your radar?`,
      score: 8,
    },
    {
      text: `With ${c?.waterHazards ?? 0} water holes on the course, ball replacement must add up — have you looked at recovery programs?`,
      score: 6,
    },
  ];
  return out;
}

function valueFor(world: World, key: string, schema: JsonSchema, subject: Subject): unknown {
  const { company, person } = subject;
  const c = company?.course;
  const k = key.toLowerCase();
  const type = typeOf(schema);
  const empty = () =>
    nullable(schema)
      ? null
      : type === 'array'
        ? []
        : type === 'number' || type === 'integer'
          ? 0
          : type === 'boolean'
            ? false
            : type === 'object'
              ? {}
              : '';
  if (schema.enum && k.includes('segment') && c)
    return schema.enum.includes(c.segment) ? c.segment : schema.enum[0];
  if (k === 'segment' && c) return c.segment;
  if (k.includes('water') && c) {
    if (k.includes('confidence'))
      return type === 'string' ? (schema.enum?.includes('medium') ? 'medium' : 'medium') : scale10(schema, 6);
    const off = unit(world.seed, `oracle:water:${company.id}`) < 0.25 ? 1 : 0;
    return c.waterHazards + off;
  }
  if (k.includes('segment') && k.includes('confidence') && c) return scale10(schema, c.segmentConfidence);
  if (k === 'confidence') return company ? scale10(schema, c ? c.segmentConfidence : 7) : scale10(schema, 2);
  if (c && k in c.opportunities) return c.opportunities[k];
  if (k === 'opportunities' && c) {
    if (schema.properties) return fill(world, schema, subject);
    if (typeOf(schema) === 'array')
      return Object.entries(c.opportunities).map(([name, score]) => ({ name, score }));
    return c.opportunities;
  }
  if (k.includes('starter') && company) {
    const list = starters(company);
    const item = schema.items;
    if (item && typeOf(item) === 'string') return list.map((s) => s.text);
    if (item?.properties)
      return list.map((s) =>
        fill(world, item, subject, { text: s.text, score: s.score, starter: s.text, message: s.text }),
      );
    return list;
  }
  if (k.includes('tenure') && person) return person.tenureYears;
  if (k.includes('start_year') && person) return person.startYear;
  if (k.includes('previous') && person) return person.previousClubs;
  if (k.includes('linkedin')) return person?.linkedinUrl ?? empty();
  if (k.includes('email')) return person?.email ?? empty();
  if (k.includes('phone')) return person?.phone ?? company?.phone ?? empty();
  if ((k.includes('website') || k === 'url') && company) return company.website ?? empty();
  if (k.includes('domain') && company) return company.domain;
  if (k === 'holes' && c) return c.holes;
  if (k === 'par' && c) return c.par;
  if (k.includes('green_fee') && c) return c.greenFeeUsd;
  if (k.includes('driving_range') && c) return c.hasDrivingRange;
  if (k.includes('access') && c) return c.access;
  if (k === 'city' && company) return company.city;
  if (k === 'title' && person) return person.title;
  if ((k === 'name' || k.includes('course_name') || k.includes('company')) && company) return company.name;
  if (k.includes('reason') || k.includes('summary') || k.includes('rationale'))
    return company ? describe(subject) : 'No information found.';
  if (type === 'object' && schema.properties) return fill(world, schema, subject);
  return empty();
}

/** Fills a JSON schema from the world; `preset` wins for keys it has (used for array items). */
export function fill(
  world: World,
  schema: JsonSchema,
  subject: Subject,
  preset: Record<string, unknown> = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    out[key] = key in preset ? preset[key] : valueFor(world, key, prop, subject);
  }
  return out;
}

/** A short factual paragraph about the subject, for text answers. */
export function describe(subject: Subject): string {
  const { company, person } = subject;
  if (!company) return 'I could not find reliable information about that.';
  const c = company.course;
  const parts = [
    `${company.name} is located at ${company.address}, ${company.city}, Virginia${company.website ? `; its official website is ${company.website}` : ''} [1].`,
  ];
  if (c) {
    parts.push(
      `It is a ${c.holes}-hole ${c.access} course (par ${c.par}) with green fees around $${c.greenFeeUsd}, which places it in the ${c.segment} segment [1].`,
    );
  }
  if (person) {
    parts.push(
      `${person.fullName} is the ${person.title} and has been there since ${person.startYear}${person.previousClubs.length ? `, after working at ${person.previousClubs.join(', ')}` : ''} [2].`,
    );
  }
  return parts.join(' ');
}
