import type { Gateway } from '../gateway/gateway-types.ts';
import { companyNameKey } from '../normalize/company-name-key.ts';

/** A stale contact as the pass reads it. */
export interface StaleContact {
  id: number;
  accountId: number | null;
  firstName: string | null;
  lastName: string | null;
  fullName: string | null;
  title: string | null;
  email: string | null;
  accountName: string | null;
  domain: string | null;
  website: string | null;
}

export type CheckOutcome = 'verified' | 'bounced' | 'changed' | 'unknown';

/** What one contact's re-check found, and what it cost; `evidence` is stored with the decision. */
export interface ContactCheck {
  outcome: CheckOutcome;
  emailStatus: string | null;
  evidence: {
    email?: { provider: 'hunter'; status: string; score: number | null };
    employment?: {
      provider: 'apollo';
      matched: boolean;
      organization: string | null;
      title: string | null;
      /** the employment entry at this account, when it has ended */
      left?: { organization: string | null; end_date: string | null } | undefined;
    };
  };
  /** Which calls decided it (for provenance: the provider of the status value). */
  decidedBy: { provider: string; operation: string } | undefined;
  costUsd: number;
}

interface VerifierOutput {
  status: string;
  score: number | null;
}
interface MatchOutput {
  organization_name: string | null;
  title: string | null;
  employment_history: {
    organization_name: string | null;
    end_date: string | null;
    current: boolean;
  }[];
}

const sameOrg = (a: string | null | undefined, b: string | null | undefined) =>
  !!a && !!b && (companyNameKey(a) ?? a.toLowerCase()) === (companyNameKey(b) ?? b.toLowerCase());

/**
 * Re-checks one contact, cheapest first, every call through the gateway with `refresh` (a month-old
 * cached answer is exactly what must not be reused; budgets, limits and the ledger still apply):
 *
 * 1. the email verifier (Hunter): `valid` (or `accept_all`, which cannot say more) is verified;
 * 2. when the address does not verify (or there is none), the employment check (Apollo people-match
 *    by name and the account's domain): a current job at another organization is a **change**; a job
 *    still at this account with a dead mailbox is a **bounce**; no match leaves a dead mailbox a bounce
 *    and anything else **unknown**.
 *
 * A person who moved while their old mailbox still accepts mail is not caught here (docs/freshness.md).
 * Provider failures propagate: an error is never "not found".
 */
export async function checkContact(gateway: Gateway, c: StaleContact): Promise<ContactCheck> {
  const out: ContactCheck = {
    outcome: 'unknown',
    emailStatus: null,
    evidence: {},
    decidedBy: undefined,
    costUsd: 0,
  };
  if (c.email) {
    const v = await gateway.call({
      provider: 'hunter',
      operation: 'email-verifier',
      input: { email: c.email },
      refresh: true,
    });
    out.costUsd += v.costUsd;
    const o = v.found ? (v.output as VerifierOutput) : undefined;
    out.emailStatus = o?.status ?? null;
    if (o) out.evidence.email = { provider: 'hunter', status: o.status, score: o.score };
    if (o?.status === 'valid' || o?.status === 'accept_all') {
      out.outcome = 'verified';
      out.decidedBy = { provider: 'hunter', operation: 'email-verifier' };
      return out;
    }
  }
  const first = c.firstName;
  const last = c.lastName;
  if (first && last && (c.domain || c.accountName)) {
    const m = await gateway.call({
      provider: 'apollo',
      operation: 'people-match',
      input: {
        first_name: first,
        last_name: last,
        ...(c.domain ? { domain: c.domain } : { organization_name: c.accountName! }),
      },
      refresh: true,
    });
    out.costUsd += m.costUsd;
    const o = m.found ? (m.output as MatchOutput) : undefined;
    const current =
      o?.employment_history.find((e) => e.current)?.organization_name ?? o?.organization_name ?? null;
    const left = o?.employment_history.find((e) => !e.current && sameOrg(e.organization_name, c.accountName));
    out.evidence.employment = {
      provider: 'apollo',
      matched: !!o,
      organization: current,
      title: o?.title ?? null,
      ...(left ? { left: { organization: left.organization_name, end_date: left.end_date } } : {}),
    };
    if (o && current && c.accountName && !sameOrg(current, c.accountName)) {
      out.outcome = 'changed';
      out.decidedBy = { provider: 'apollo', operation: 'people-match' };
      return out;
    }
  }
  if (out.emailStatus === 'invalid') {
    out.outcome = 'bounced';
    out.decidedBy = { provider: 'hunter', operation: 'email-verifier' };
  }
  return out;
}
