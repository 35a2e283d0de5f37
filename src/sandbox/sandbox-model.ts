import { classify } from './reader/classify.ts';
import { describeReading, fill, type JsonSchema, type PromptReading } from './reader/fill-schema.ts';
import { readCourse } from './reader/read-course.ts';
import { namesIn, readPerson, readStaff } from './reader/read-person.ts';
import { createLuck, type ReaderRates } from './reader/reader-rates.ts';
import { createSearchIndex, formatResults, type SearchIndex } from './search/search-index.ts';
import type { World } from './world.ts';

/**
 * The sandbox model: answers a prompt from the text it is given, never from the world. It reads the
 * prompt (page text, facts a pipeline passes on) and, for web-search models (Perplexity) or questions
 * about a person, the results of the simulated search index, then fills the requested JSON schema
 * from what it read (src/sandbox/reader/). Served over HTTP by the OpenAI-, Anthropic- and
 * Perplexity-compatible fakes.
 */
export interface ModelRequest {
  system?: string;
  prompt: string;
  /** JSON Schema of the answer; without it the answer is text. */
  schema?: JsonSchema;
  /** A web-search model (Sonar): always searches. Other models search only when asked about a person. */
  webSearch: boolean;
}

export interface ModelAnswer {
  /** The JSON text when a schema was given, else prose. */
  text: string;
  object: Record<string, unknown> | undefined;
  /** URLs of the search results read (empty when nothing was searched or found). */
  citations: string[];
}

export interface SandboxModel {
  answer(request: ModelRequest): ModelAnswer;
  index: SearchIndex;
}

const PERSON_KEYS = /linkedin|phone|email|start_year|tenure|previous/i;

/** "... at Kinloch Golf Club (kinlochgc.com)" / "Course: Kinloch Golf Club (...)" → the course name. */
function courseNameIn(prompt: string): string | undefined {
  const m =
    /\bat ([A-Z][^()\n?]+?) \(/.exec(prompt) ??
    /\bCourse: ([^()\n]+?) \(/.exec(prompt) ??
    /\b(?:holes of|website of the golf course) "?([A-Z][^()\n"?]+?)"? (?:\(|in )/.exec(prompt);
  return m?.[1]?.trim();
}

export function createSandboxModel(
  world: World,
  options: { seed?: number; rates?: ReaderRates } = {},
): SandboxModel {
  const seed = options.seed ?? world.seed;
  const luck = createLuck(seed, options.rates);
  const index = createSearchIndex(world, seed);
  return {
    index,
    answer(req) {
      const question = [req.system, req.prompt].filter(Boolean).join('\n');
      const keys = Object.keys(req.schema?.properties ?? {}).join(' ');
      const name = namesIn(req.prompt)[0];
      const aboutPerson =
        name !== undefined &&
        (PERSON_KEYS.test(keys) || (!req.schema && /\b(who|linkedin|phone|email)\b/i.test(req.prompt)));
      const results = req.webSearch || aboutPerson ? index.search(req.prompt) : [];
      const text = results.length ? `${question}\n\nSearch results:\n${formatResults(results)}` : question;
      const course = readCourse(text, luck);
      const courseName = courseNameIn(req.prompt);
      const reading: PromptReading = {
        course,
        person: aboutPerson ? readPerson(text, name, luck) : undefined,
        staff: /\b(staff|people|contacts)\b/.test(keys) ? readStaff(text, luck) : [],
        classification: classify(course, courseName),
        courseName,
        year: world.year,
        mainLineAsDirect: luck.roll(`main-line:${req.prompt}`) < luck.rates.mainLineAsDirect,
      };
      const object = req.schema ? fill(req.schema, reading) : undefined;
      return {
        text: object ? JSON.stringify(object) : describeReading(reading),
        object,
        citations: results.map((r) => r.url),
      };
    },
  };
}
