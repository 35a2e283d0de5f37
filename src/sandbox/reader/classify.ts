import type { Segment } from '../world.ts';
import type { CourseReading } from './read-course.ts';

/**
 * The sandbox model's classification rule (docs/sandbox.md "Classification"), applied to the facts read
 * from the prompt and nothing else, so a page that lies is classified as it lies:
 * - segment from the green fee: ≥ $95 high-end, ≤ $45 budget, else both; confidence 5 + distance to
 *   the nearest boundary / $12, within 4–10 (the world defines segments by the same thresholds);
 * - no fee: from access (private, resort → high-end; public, municipal → budget; semi-private →
 *   both), confidence 3;
 * - neither: `both` at confidence 1 (or null where the schema allows it);
 * - opportunity scores (1–10) from segment and driving range; conversation starters from the facts read.
 */
export interface Classification {
  segment: Segment | null;
  /** 1–10. */
  confidence: number;
  opportunities: Record<'range_ball_buy' | 'range_ball_lease' | 'range_equipment' | 'ball_dispenser', number>;
  starters: { text: string; score: number }[];
}

const clamp = (lo: number, hi: number, x: number) => Math.max(lo, Math.min(hi, Math.round(x)));

export function segmentOf(facts: CourseReading): { segment: Segment | null; confidence: number } {
  const fee = facts.greenFeeUsd?.value;
  if (fee !== undefined) {
    const segment: Segment = fee >= 95 ? 'high-end' : fee <= 45 ? 'budget' : 'both';
    const edge = segment === 'both' ? Math.min(Math.abs(fee - 45), Math.abs(95 - fee)) : Math.abs(fee - 70);
    const penalty = facts.greenFeeUsd?.form === 'labelled' ? 0 : 2;
    return { segment, confidence: clamp(4, 10, 5 + edge / 12 - penalty) };
  }
  const access = facts.access?.value;
  if (access === 'private' || access === 'resort') return { segment: 'high-end', confidence: 3 };
  if (access === 'public' || access === 'municipal') return { segment: 'budget', confidence: 3 };
  if (access === 'semi-private') return { segment: 'both', confidence: 3 };
  return { segment: null, confidence: 1 };
}

export function classify(facts: CourseReading, courseName: string | undefined): Classification {
  const { segment, confidence } = segmentOf(facts);
  const h = segment === 'high-end' ? 1 : segment === 'both' ? 0.5 : segment === 'budget' ? 0 : 0.5;
  const range = facts.hasDrivingRange?.value;
  const opportunities =
    range === true
      ? {
          range_ball_buy: clamp(1, 10, 4 + (1 - h) * 5),
          range_ball_lease: clamp(1, 10, 4 + h * 5),
          range_equipment: 6,
          ball_dispenser: clamp(1, 10, 3 + (1 - h) * 3),
        }
      : range === false
        ? { range_ball_buy: 1, range_ball_lease: 1, range_equipment: 2, ball_dispenser: 1 }
        : { range_ball_buy: 3, range_ball_lease: 3, range_equipment: 3, ball_dispenser: 2 };
  const who = courseName ?? 'your course';
  const starters: Classification['starters'] = [];
  if (range === true)
    starters.push({
      text: `I noticed ${who} runs a driving range: how do you keep range balls fresh through the season?`,
      score: 9,
    });
  else if (range === false)
    starters.push({
      text: `Has ${who} considered adding a practice area? Many courses your size have.`,
      score: 6,
    });
  if (segment)
    starters.push({
      text: `Many ${segment === 'budget' ? 'value-focused public' : segment === 'high-end' ? 'premium' : 'mid-market'} courses are moving to leased range balls; is that on your radar at ${who}?`,
      score: 8,
    });
  const water = facts.waterHazards?.value;
  if (water !== undefined && water > 0)
    starters.push({
      text: `With water in play on ${water} holes, ball replacement must add up: have you looked at recovery programs?`,
      score: 6,
    });
  if (starters.length === 0)
    starters.push({ text: `What does ${who} use on its practice range today?`, score: 3 });
  return { segment, confidence, opportunities, starters };
}
