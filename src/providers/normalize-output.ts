import {
  normalizeDomain as domainOf,
  normalizeEmail as emailOf,
  normalizeLinkedInUrl,
  normalizePhone as phoneOf,
} from '../normalize/index.ts';

/**
 * Provider outputs are normalized with Sluice's one set of rules (src/normalize/): emails lowercased
 * and validated, phones E.164, registrable domains, canonical LinkedIn URLs. These wrappers only turn
 * "not a value" into `null`, which is how operation output schemas spell it.
 */

export function normalizeEmail(value: string | null | undefined): string | null {
  return emailOf(value) ?? null;
}

export function normalizePhone(value: string | null | undefined, region = 'US'): string | null {
  return phoneOf(value, region) ?? null;
}

export function normalizeDomain(value: string | null | undefined): string | null {
  return domainOf(value) ?? null;
}

export function normalizeLinkedin(value: string | null | undefined): string | null {
  return normalizeLinkedInUrl(value) ?? null;
}
