import type { OutcomeRow, OutcomeTable } from '../src/learning/optimizer/outcome-table.ts';
import type { Rng } from '../src/learning/optimizer/random.ts';

/**
 * Sandbox-like waterfall scenarios where every provider's answer for every record is known (what the
 * sandbox's ground truth gives): five email sources priced like the real ones, a validator that costs
 * $0.004 a check and rejects wrong guesses, pay-on-hit and pay-per-call pricing, a provider that needs
 * an input a third of the records lack.
 */
export interface ProviderSpec {
  id: string;
  /** Paid per call whether or not it finds (false: pay on hit). */
  payAlways: boolean;
  priceUsd: number;
  /** Found answers are checked by the validator (else the source verified them itself). */
  validated: boolean;
  /** Share of found answers that are wrong (rejected by the validator). */
  wrong: number;
  /** Share of records lacking the input it needs (skipped, free). */
  missingInput: number;
}

export const VALIDATOR_USD = 0.004;

export const PROVIDERS: ProviderSpec[] = [
  { id: 'pattern-guess', payAlways: false, priceUsd: 0, validated: true, wrong: 0.35, missingInput: 0 },
  { id: 'finder', payAlways: false, priceUsd: 0.017, validated: false, wrong: 0, missingInput: 0 },
  { id: 'people-match', payAlways: true, priceUsd: 0.018, validated: true, wrong: 0.05, missingInput: 0 },
  { id: 'premium', payAlways: true, priceUsd: 0.05, validated: false, wrong: 0, missingInput: 0 },
  { id: 'profile-lookup', payAlways: true, priceUsd: 0.01, validated: true, wrong: 0.1, missingInput: 0.33 },
];

/** Per record: whether each provider finds an answer; the rest (wrong answers, skips, costs) follows. */
export type FoundFn = (rng: Rng, index: number, total: number) => { found: boolean[]; segment: string };

export function buildRow(found: boolean[], segment: string, rng: Rng, providers = PROVIDERS): OutcomeRow {
  const n = providers.length;
  const cost = new Float64Array(n);
  let accept = 0;
  providers.forEach((p, j) => {
    if (rng() < p.missingInput) return; // skipped: costs nothing, finds nothing
    const f = found[j]!;
    const callCost = p.payAlways || f ? p.priceUsd : 0;
    const checked = f && p.validated;
    cost[j] = callCost + (checked ? VALIDATOR_USD : 0);
    if (f && !(checked && rng() < p.wrong)) accept |= 1 << j;
  });
  return { cost, accept, segment };
}

export function table(rows: OutcomeRow[], providers = PROVIDERS): OutcomeTable {
  return { providers: providers.map((p) => p.id), rows };
}

/** Standard normal quantile (Acklam's approximation; plenty for thresholds). */
function probit(p: number): number {
  const a = [
    -39.6968302866538, 220.946098424521, -275.928510446969, 138.357751867269, -30.6647980661472,
    2.50662827745924,
  ];
  const b = [-54.4760987982241, 161.585836858041, -155.698979859887, 66.8013118877197, -13.2806815528857];
  const c = [
    -0.00778489400243029, -0.322396458041136, -2.40075827716184, -2.54973253934373, 4.37466414146497,
    2.93816398269878,
  ];
  const d = [0.00778469570904146, 0.32246712907004, 2.445134137143, 3.75440866190742];
  const q = Math.min(Math.max(p, 1e-9), 1 - 1e-9);
  if (q < 0.02425) {
    const r = Math.sqrt(-2 * Math.log(q));
    return (
      (((((c[0]! * r + c[1]!) * r + c[2]!) * r + c[3]!) * r + c[4]!) * r + c[5]!) /
      ((((d[0]! * r + d[1]!) * r + d[2]!) * r + d[3]!) * r + 1)
    );
  }
  if (q > 1 - 0.02425) return -probit(1 - q);
  const r = (q - 0.5) * (q - 0.5);
  const u = q - 0.5;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * u) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

function gauss(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

const independent =
  (rates: number[]): FoundFn =>
  (rng) => ({ found: rates.map((r) => rng() < r), segment: '' });

/** A shared latent "how findable is this person" (ρ = correlation of the providers' latent scores). */
const correlated =
  (rates: number[], rho: number): FoundFn =>
  (rng) => {
    const z = gauss(rng);
    return {
      found: rates.map((r) => rho * z + Math.sqrt(1 - rho * rho) * gauss(rng) < probit(r)),
      segment: '',
    };
  };

export interface Scenario {
  name: string;
  what: string;
  /** Drawn per training record (index, total: drift changes with time). */
  train: FoundFn;
  /** Drawn for the held-out records (after any drift). */
  heldOut: FoundFn;
  segmented: boolean;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'independent',
    what: 'providers find independently',
    train: independent([0.45, 0.55, 0.5, 0.8, 0.4]),
    heldOut: independent([0.45, 0.55, 0.5, 0.8, 0.4]),
    segmented: false,
  },
  {
    name: 'correlated',
    what: 'a shared latent findability, rho 0.8',
    train: correlated([0.45, 0.55, 0.5, 0.8, 0.4], 0.8),
    heldOut: correlated([0.45, 0.55, 0.5, 0.8, 0.4], 0.8),
    segmented: false,
  },
  {
    name: 'reseller',
    what: 'people-match resells 90% of premium at a third of its price',
    train: (rng) => {
      const premium = rng() < 0.7;
      return {
        found: [rng() < 0.4, rng() < 0.5, premium && rng() < 0.9, premium, rng() < 0.35],
        segment: '',
      };
    },
    heldOut: (rng) => {
      const premium = rng() < 0.7;
      return {
        found: [rng() < 0.4, rng() < 0.5, premium && rng() < 0.9, premium, rng() < 0.35],
        segment: '',
      };
    },
    segmented: false,
  },
  {
    name: 'segments',
    what: 'coverage depends on the segment (enterprise vs smb)',
    train: (rng) => {
      const ent = rng() < 0.5;
      const rates = ent ? [0.15, 0.3, 0.85, 0.9, 0.2] : [0.6, 0.5, 0.1, 0.45, 0.75];
      return { found: rates.map((r) => rng() < r), segment: ent ? 'enterprise' : 'smb' };
    },
    heldOut: (rng) => {
      const ent = rng() < 0.5;
      const rates = ent ? [0.15, 0.3, 0.85, 0.9, 0.2] : [0.6, 0.5, 0.1, 0.45, 0.75];
      return { found: rates.map((r) => rng() < r), segment: ent ? 'enterprise' : 'smb' };
    },
    segmented: true,
  },
  {
    name: 'drift',
    what: "people-match's coverage falls from 80% to 10% after 60% of the stream",
    train: (rng, i, total) => independent([0.45, 0.5, i < 0.6 * total ? 0.8 : 0.1, 0.8, 0.4])(rng, i, total),
    heldOut: independent([0.45, 0.5, 0.1, 0.8, 0.4]),
    segmented: false,
  },
];
