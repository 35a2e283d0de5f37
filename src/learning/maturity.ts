import { wilsonLower } from './wilson.ts';

/**
 * The seeds' maturity levels, from measured deployment outcomes (shared/seeds/004):
 * - experimental: tested once (or never), needs validation;
 * - proven: worked across 2+ engagements (at least one successful deployment in each);
 * - battle-tested: 5+ evaluated deployments whose success rate's Wilson lower bound is at least
 *   BATTLE_TESTED_LOWER_BOUND ("consistently performs": 5 of 5 passes, 5 of 6 does not);
 * - signature: battle-tested and flagged by a person as an unfair advantage.
 */
export type Maturity = 'experimental' | 'proven' | 'battle-tested' | 'signature';

export const PROVEN_ENGAGEMENTS = 2;
export const BATTLE_TESTED_DEPLOYMENTS = 5;
export const BATTLE_TESTED_LOWER_BOUND = 0.5;

export interface MaturityInput {
  /** Deployments whose success could be judged (enough records). */
  evaluated: number;
  successes: number;
  /** Distinct engagements with at least one successful deployment. */
  successfulEngagements: number;
  signatureFlag: boolean;
}

export interface MaturityVerdict {
  maturity: Maturity;
  /** Why, and what the next level needs, in words. */
  reason: string;
}

export function maturityOf(m: MaturityInput): MaturityVerdict {
  const lower = wilsonLower(m.successes, m.evaluated);
  const battle = m.evaluated >= BATTLE_TESTED_DEPLOYMENTS && (lower ?? 0) >= BATTLE_TESTED_LOWER_BOUND;
  const lb = lower === null ? 'none' : `${(lower * 100).toFixed(1)}%`;
  if (battle && m.signatureFlag)
    return {
      maturity: 'signature',
      reason: `battle-tested (${m.successes}/${m.evaluated}, lower bound ${lb}) and flagged signature`,
    };
  if (battle)
    return {
      maturity: 'battle-tested',
      reason: `${m.successes} of ${m.evaluated} deployments succeeded, Wilson lower bound ${lb} ≥ ${BATTLE_TESTED_LOWER_BOUND * 100}%`,
    };
  const toBattle = `battle-tested needs ${BATTLE_TESTED_DEPLOYMENTS}+ evaluated deployments with a success lower bound ≥ ${BATTLE_TESTED_LOWER_BOUND * 100}% (now ${m.successes}/${m.evaluated}, ${lb})`;
  if (m.successfulEngagements >= PROVEN_ENGAGEMENTS)
    return { maturity: 'proven', reason: `worked in ${m.successfulEngagements} engagements; ${toBattle}` };
  return {
    maturity: 'experimental',
    reason: `worked in ${m.successfulEngagements} engagement(s); proven needs ${PROVEN_ENGAGEMENTS}`,
  };
}
