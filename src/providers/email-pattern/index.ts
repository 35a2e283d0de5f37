import { z } from 'zod';
import { CriticalError } from '../../errors.ts';
import { defineOperation, defineProvider } from '../define-provider.ts';
import { normalizeDomain, normalizeEmail } from '../normalize-output.ts';

/**
 * The free email-pattern inferrer: learns how a domain builds addresses (`{first}.{last}@`,
 * `{f}{last}@`...) from emails Sluice knows to be real there, and proposes the address of a new person
 * with a confidence from how consistent the evidence is. No HTTP, cost 0.
 *
 * Evidence is honest: only addresses somebody vouches for count, never a guess (this inferrer's, or a
 * run's unverified finds), or "two matches, skip the paid check" could be self-made:
 * - stored contacts (through `services.db`) whose current email was imported or entered by a person
 *   (field_values source import, api, crm, manual) or judged `verified` by a checker (value_outcomes),
 *   and not judged `bounced` since; an expression index on the email's domain serves the lookup
 *   (migration 0022);
 * - `known` emails the caller passes in, which it vouches for (a domain's own staff page: in
 *   golf-courses, `people_with_email(contacts, 'email_published')`).
 * The answer depends on the database, so it is not cached (TTL 0): a cached guess would outlive the
 * evidence it came from. It is free and local, so caching would save nothing.
 */
/** field_values sources whose email is a person's or a system of record's, not a guess. */
export const VOUCHED_SOURCES = ['import', 'api', 'crm', 'manual'] as const;

const EVIDENCE_SQL = `
SELECT c.first_name, c.last_name, c.email
  FROM contacts c
 WHERE c.email IS NOT NULL AND c.first_name IS NOT NULL AND c.last_name IS NOT NULL
   AND lower(split_part(c.email, '@', 2)) = $1
   AND (EXISTS (SELECT 1 FROM field_values f
                 WHERE f.entity_type = 'contact' AND f.entity_id = c.id AND f.field = 'email'
                   AND f.source = ANY($2::text[]) AND lower(f.value #>> '{}') = lower(c.email))
        OR EXISTS (SELECT 1 FROM value_outcomes o
                    WHERE o.entity_type = 'contact' AND o.entity_id = c.id AND o.field = 'email'
                      AND o.outcome = 'verified' AND lower(o.value #>> '{}') = lower(c.email)))
   AND NOT EXISTS (SELECT 1 FROM value_outcomes o
                    WHERE o.entity_type = 'contact' AND o.entity_id = c.id AND o.field = 'email'
                      AND o.outcome = 'bounced' AND lower(o.value #>> '{}') = lower(c.email))
 ORDER BY c.id
 LIMIT 500`;
export const PATTERNS = [
  '{first}.{last}',
  '{f}{last}',
  '{first}',
  '{first}{last}',
  '{first}{l}',
  '{first}_{last}',
  '{last}{f}',
  '{f}.{last}',
  '{last}.{first}',
  '{first}-{last}',
  '{last}',
] as const;

/** Lowercase ASCII letters and digits only (`O'Brien` -> `obrien`, `José` -> `jose`). */
export function nameToken(s: string): string {
  return s
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}

export function applyEmailPattern(
  pattern: string,
  first: string,
  last: string,
  domain: string,
): string | null {
  const f = nameToken(first);
  const l = nameToken(last);
  if (!f || !l) return null;
  const local = pattern
    .replace('{first}', f)
    .replace('{last}', l)
    .replace('{f}', f[0]!)
    .replace('{l}', l[0]!);
  return `${local}@${domain}`;
}

// Lenient on purpose: evidence with a missing part is skipped, not an error.
const known = z.object({
  first_name: z.string().nullish(),
  last_name: z.string().nullish(),
  email: z.string().nullish(),
});

const inferEmail = defineOperation({
  description: "propose a person's email from the patterns of emails already known at the domain (free)",
  input: z.object({
    domain: z.string().min(1),
    first_name: z.string().min(1),
    last_name: z.string().min(1),
    /** Extra evidence not yet stored, vouched for by the caller (e.g. emails on the domain's staff page). */
    known: z.array(known).optional(),
  }),
  output: z.object({
    email: z.string(),
    pattern: z.string(),
    /** People at the domain whose email fits the pattern / people with a known email there. */
    evidence: z.object({ matches: z.number(), total: z.number() }),
    candidates: z.array(z.object({ email: z.string(), pattern: z.string(), confidence: z.number() })),
  }),
  priceUsd: 0,
  caseInsensitive: ['domain', 'known.email'],
  // Not cached: the answer depends on the evidence stored when it is asked (see above).
  cacheTtlMs: 0,
  notFoundTtlMs: 0,
  async run(ctx, input) {
    const domain = normalizeDomain(input.domain);
    if (!domain) throw new CriticalError(`email-pattern: ${JSON.stringify(input.domain)} is not a domain`);
    const evidence: { first_name: string; last_name: string; email: string }[] = (input.known ?? []).flatMap(
      (k) =>
        k.first_name && k.last_name && k.email
          ? [{ first_name: k.first_name, last_name: k.last_name, email: k.email }]
          : [],
    );
    if (ctx.services.db) {
      const rows = await ctx.services.db.query<{ first_name: string; last_name: string; email: string }>(
        EVIDENCE_SQL,
        [domain, VOUCHED_SOURCES],
      );
      evidence.push(...rows.rows);
    }
    const self = `${nameToken(input.first_name)} ${nameToken(input.last_name)}`;
    const counts = new Map<string, number>();
    const seen = new Set<string>();
    let total = 0;
    for (const k of evidence) {
      const email = normalizeEmail(k.email);
      if (!email?.endsWith(`@${domain}`) || seen.has(email)) continue;
      // The person we are looking for does not count as evidence for their own address.
      if (`${nameToken(k.first_name)} ${nameToken(k.last_name)}` === self) continue;
      seen.add(email);
      total++;
      for (const p of PATTERNS)
        if (applyEmailPattern(p, k.first_name, k.last_name, domain) === email)
          counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    if (counts.size === 0) return { found: false, costUsd: 0 };
    // Laplace-smoothed share of the evidence, capped: one matching email is a hint, three are a rule.
    const ranked = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || PATTERNS.indexOf(a[0] as never) - PATTERNS.indexOf(b[0] as never))
      .map(([pattern, n]) => ({
        pattern,
        n,
        confidence: Math.min(0.95, (n / (total + 1)) * (1 - 0.5 ** n)),
      }));
    const candidates = ranked.flatMap((r) => {
      const email = applyEmailPattern(r.pattern, input.first_name, input.last_name, domain);
      return email ? [{ email, pattern: r.pattern, confidence: Math.round(r.confidence * 1000) / 1000 }] : [];
    });
    const best = candidates[0];
    if (!best) return { found: false, costUsd: 0 };
    return {
      found: true,
      output: {
        email: best.email,
        pattern: best.pattern,
        evidence: { matches: ranked[0]!.n, total },
        candidates,
      },
      costUsd: 0,
      confidence: best.confidence,
    };
  },
});

export const emailPattern = defineProvider({
  id: 'email-pattern',
  name: 'Email pattern inferrer (built-in)',
  baseUrl: '',
  limits: [],
  concurrency: 16,
  free: true,
  probe: async () => 'built in (reads imported and verified contacts; no network)',
  operations: { 'infer-email': inferEmail },
});
