import type { Classification } from './classify.ts';
import type { CourseReading } from './read-course.ts';
import type { PersonReading, StaffRead } from './read-person.ts';

/**
 * Fills the JSON schema a caller asked for from what the reader read, by property name (holes, par,
 * green_fee_usd, segment, *_confidence, opportunities, conversation_starters, linkedin_url, phone,
 * start_year, previous_clubs, staff…). What was not read is null where the schema allows null;
 * where it does not, the model guesses the most common value (18 holes, par 72, $50, 3 water holes,
 * a driving range) with the lowest confidence, as a language model forced to answer does.
 */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

export interface PromptReading {
  course: CourseReading;
  /** Set when the question is about a person. */
  person: PersonReading | undefined;
  staff: StaffRead[];
  classification: Classification;
  courseName: string | undefined;
  /** The model's "now" (tenure is counted to it). */
  year: number;
  /** Asked for a direct line and found none: does this reading answer the main line instead? */
  mainLineAsDirect: boolean;
}

const GUESSES: Record<string, number> = { holes: 18, par: 72, green_fee: 50, water: 3 };

function typeOf(s: JsonSchema): string {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
  if (t) return t;
  const alt = (s.anyOf ?? s.oneOf)?.find((x) => x.type !== 'null');
  return alt ? typeOf(alt) : s.properties ? 'object' : 'string';
}

const nullable = (s: JsonSchema) =>
  (Array.isArray(s.type) && s.type.includes('null')) ||
  Boolean((s.anyOf ?? s.oneOf)?.some((x) => x.type === 'null'));

function bound(s: JsonSchema, v: number): number {
  let x = typeOf(s) === 'integer' ? Math.round(v) : v;
  if (s.minimum !== undefined) x = Math.max(s.minimum, x);
  if (s.maximum !== undefined) x = Math.min(s.maximum, x);
  return x;
}

/** A 1–10 confidence, or 0–1 when the schema's maximum is 1. */
const scale10 = (s: JsonSchema, v: number) =>
  s.maximum !== undefined && s.maximum <= 1 ? v / 10 : bound(s, v);

const FORM_CONFIDENCE = { labelled: 8, prose: 6, words: 5 } as const;

function valueFor(key: string, schema: JsonSchema, r: PromptReading): unknown {
  const k = key.toLowerCase();
  const type = typeOf(schema);
  const c = r.course;
  const p = r.person;
  const missing = (guess?: unknown): unknown => {
    if (nullable(schema)) return null;
    if (guess !== undefined) return typeof guess === 'number' ? bound(schema, guess) : guess;
    if (schema.enum) return schema.enum[0];
    return type === 'array'
      ? []
      : type === 'number' || type === 'integer'
        ? bound(schema, 0)
        : type === 'boolean'
          ? false
          : type === 'object'
            ? fill(schema, r)
            : '';
  };
  const have = <T>(x: { value: T } | undefined, guess?: unknown) =>
    x === undefined ? missing(guess) : typeof x.value === 'number' ? bound(schema, x.value) : x.value;

  if (k.includes('confidence')) {
    if (k.includes('water'))
      return scale10(schema, c.waterHazards ? FORM_CONFIDENCE[c.waterHazards.form] : 1);
    return scale10(schema, r.classification.confidence);
  }
  if (k.includes('segment')) {
    const seg = r.classification.segment;
    if (seg === null) return missing('both');
    return schema.enum && !schema.enum.includes(seg) ? schema.enum[0] : seg;
  }
  if (k.includes('water')) return have(c.waterHazards, GUESSES.water);
  if (k in r.classification.opportunities)
    return bound(schema, r.classification.opportunities[k as keyof Classification['opportunities']]);
  if (k === 'opportunities') {
    if (schema.properties) return fill(schema, r);
    return Object.entries(r.classification.opportunities).map(([name, score]) => ({ name, score }));
  }
  if (k.includes('starter')) {
    const item = schema.items;
    if (item && typeOf(item) === 'string') return r.classification.starters.map((s) => s.text);
    return r.classification.starters.map((s) =>
      fill(item ?? {}, r, { text: s.text, score: s.score, starter: s.text, message: s.text }),
    );
  }
  if (k === 'staff' || k === 'people' || k === 'contacts') {
    return r.staff.map((s) => fill(schema.items ?? {}, r, { ...s, full_name: s.name }));
  }
  if (k.includes('linkedin')) return have(p?.linkedinUrl);
  if (k.includes('email')) return have(p?.email);
  if (k.includes('phone')) {
    if (p?.phone) return p.phone.value;
    return p?.mainLine && r.mainLineAsDirect ? p.mainLine : missing();
  }
  if (k.includes('start_year')) return have(p?.startYear);
  if (k.includes('tenure')) return p?.startYear ? bound(schema, r.year - p.startYear.value) : missing();
  if (k.includes('previous')) return p?.previousClubs ? p.previousClubs.value : missing();
  if (k === 'title' || k.includes('position')) return have(p?.title);
  if (k.includes('website') || k === 'url') return have(c.website);
  if (k === 'holes') return have(c.holes, GUESSES.holes);
  if (k === 'par') return have(c.par, GUESSES.par);
  if (k.includes('green_fee') || k === 'fee') return have(c.greenFeeUsd, GUESSES.green_fee);
  if (k.includes('driving_range') || k === 'range') return have(c.hasDrivingRange, true);
  if (k.includes('access')) return have(c.access, 'public');
  if (k === 'name' || k.includes('course_name')) return r.courseName ?? missing();
  if (k.includes('reason') || k.includes('summary') || k.includes('rationale')) return describeReading(r);
  if (type === 'object' && schema.properties) return fill(schema, r);
  return missing();
}

/** Fills a JSON schema from a reading; `preset` wins for the keys it has (array items). */
export function fill(
  schema: JsonSchema,
  r: PromptReading,
  preset: Record<string, unknown> = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    out[key] = key in preset ? (preset[key] ?? (nullable(prop) ? null : '')) : valueFor(key, prop, r);
  }
  return out;
}

/** A text answer: the facts read, in one paragraph (or that nothing was found). */
export function describeReading(r: PromptReading): string {
  const c = r.course;
  const parts: string[] = [];
  if (c.holes) parts.push(`${c.holes.value} holes`);
  if (c.par) parts.push(`par ${c.par.value}`);
  if (c.access) parts.push(`${c.access.value} access`);
  if (c.greenFeeUsd) parts.push(`green fees around $${c.greenFeeUsd.value}`);
  if (c.waterHazards) parts.push(`water in play on ${c.waterHazards.value} holes`);
  const p = r.person;
  if (p?.title) parts.push(`the person is ${p.title.value}`);
  if (p?.startYear) parts.push(`there since ${p.startYear.value}`);
  if (parts.length === 0) return 'I could not find reliable information about that.';
  return `${r.courseName ?? 'The course'}: ${parts.join(', ')}${r.classification.segment ? `; segment ${r.classification.segment}` : ''}.`;
}
