import { createHash } from 'node:crypto';

/**
 * Deterministic randomness for the sandbox. Everything random is derived from (seed, key), so the
 * world and every fake answer are the same for the same seed regardless of call order.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  /** Log-normal sample with the given median; `spread` is sigma of the underlying normal. */
  logNormal(median: number, spread: number): number;
}

/** 32-bit hash of a seed and a key (sha256 prefix: slow-ish but only used to seed generators). */
export function hash32(seed: number | string, key: string): number {
  return createHash('sha256').update(`${seed}\u0000${key}`).digest().readUInt32BE(0);
}

/** A uniform number in [0,1) for (seed, key): one-shot decisions such as "does Hunter know this person". */
export function unit(seed: number | string, key: string): number {
  return hash32(seed, key) / 0x1_0000_0000;
}

/** mulberry32: small, fast, good enough for synthetic data. */
export function createRng(seed: number | string, key = ''): Rng {
  let a = hash32(seed, key) >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
    chance: (p) => next() < p,
    logNormal(median, spread) {
      // Box-Muller
      const u = Math.max(next(), 1e-12);
      const v = next();
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      return median * Math.exp(spread * z);
    },
  };
}
