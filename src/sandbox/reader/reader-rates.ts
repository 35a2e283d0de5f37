import { unit } from '../rng.ts';

/**
 * The sandbox reader's declared error rates (docs/sandbox.md lists the same numbers). A fact is read
 * from the text in one of three forms; the harder the form, the more often the reader misses it (reads
 * nothing) or misreads it (reads a wrong value and does not say so):
 * - `labelled`: the value next to its label ("18-hole", "par 71", "Green fee: $45", "Holes | 18");
 * - `prose`: a number inside a sentence ("Water comes into play on 7 holes, with ponds…");
 * - `words`: a number spelled out ("an eighteen-hole, par seventy-two course").
 * People: a detail sitting on the person's own line is `labelled`; one a line or two below the name
 * (cards, odd layouts) is `prose`.
 */
export type FactForm = 'labelled' | 'prose' | 'words';

export interface ReaderRates {
  miss: Record<FactForm, number>;
  misread: Record<FactForm, number>;
  /** Asked for a person's direct line and finding none, answers the page's main line instead. */
  mainLineAsDirect: number;
}

export const READER_RATES: ReaderRates = {
  miss: { labelled: 0.02, prose: 0.25, words: 0.6 },
  misread: { labelled: 0.02, prose: 0.05, words: 0.1 },
  mainLineAsDirect: 0.35,
};

/** A reader that never misses or misreads (adapter conformance tests, where the reader is not the subject). */
export const PERFECT_READER: ReaderRates = {
  miss: { labelled: 0, prose: 0, words: 0 },
  misread: { labelled: 0, prose: 0, words: 0 },
  mainLineAsDirect: 0,
};

/**
 * One reading's luck: deterministic per (seed, what is read, the words it is read from), so the same
 * prompt always gets the same answer and a retry cannot change it.
 */
export interface Luck {
  roll(key: string): number;
  rates: ReaderRates;
}

export function createLuck(seed: number, rates: ReaderRates = READER_RATES): Luck {
  return { roll: (key) => unit(seed, `reader:${key}`), rates };
}
