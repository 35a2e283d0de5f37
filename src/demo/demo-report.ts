import type { Queryable } from '../db/db.ts';
import type { ProviderDefinition } from '../providers/define-provider.ts';
import type { World } from '../sandbox/world.ts';

/** What `sluice demo` prints (`--json` prints exactly this object). */
export interface DemoReport {
  sandbox: true;
  /** `--month-later`: the simulated freshness pass a month on (src/demo/month-later.ts). */
  month_later?: import('./month-later.ts').MonthLaterReport;
  /** What the accuracy figures are measured against: the sandbox's simulated world, not real data. */
  measured_against: 'simulated world';
  accounts_selected: number;
  accounts_enriched: number;
  accounts_failed: number;
  contacts_found: number;
  /** Contacts whose name matches a person of the simulated world at that course (the scored ones). */
  contacts_matched: number;
  email_found_rate: number;
  /** Of matched contacts with an email: the person's real address. */
  email_accuracy: number;
  /** Contacts with any phone. */
  phone_found_rate: number;
  /** Contacts with a phone that is not the course's main line (offered as a direct line). */
  phone_direct_found_rate: number;
  /** Of those (matched): the person's own direct line. A person without one cannot be right. */
  phone_direct_accuracy: number;
  /** Contacts whose phone is the course's main line (reachable, but not the person). */
  phone_main_line_rate: number;
  linkedin_found_rate: number;
  linkedin_accuracy: number;
  segment_accuracy: number;
  /** Requests that reached a paid provider (retries included); 0 on a second run. */
  paid_calls: number;
  calls: number;
  cache_hits: number;
  total_cost_usd: number;
  cost_per_enriched_contact_usd: number;
  wall_time_s: number;
  /** The limits the demo raises, and the batch's forecast at the real ones. */
  limits: LimitReport;
  /** Requests each fake server answered (HTTP, retries included). */
  fake_requests: Record<string, number>;
  providers: ProviderStats[];
}

/**
 * The limits the demo raises and what they cost in time. Two figures each: the forecast (made before
 * the batch: every call the pipeline may make, an upper bound of calls) and the calls the batch really
 * made (from the ledger), each at the least time the limits allow for those calls (fastest schedule).
 */
export interface LimitReport {
  /** Forecast: the calls the pipeline may make need this long at the providers' real limits, s. */
  at_real_limits_s: number;
  /** The same at the demo's raised limits, s. */
  at_sandbox_limits_s: number;
  /** Measured: the requests this batch made need this long at the real limits (slowest provider), s. */
  made_at_real_limits_s: number;
  changed: {
    provider: string;
    real: string;
    sandbox: string;
    at_real_limit_s: number;
    at_sandbox_limit_s: number;
    /** Requests this batch made to the provider (retries included). */
    made_requests: number;
    /** Least time those requests need at the real limit, s. */
    made_at_real_limit_s: number;
  }[];
}

export interface ProviderStats {
  provider: string;
  calls: number;
  /** Calls that found something. */
  hits: number;
  cache_hits: number;
  /** Requests made (attempts that reached the provider). */
  requests: number;
  cost_usd: number;
  /**
   * Median latency of the requests made, ms; 0 when all were cached. An HTTP round trip to a fake
   * when `over_http`, else in-process work (the email-pattern inferrer's database lookup).
   */
  median_latency_ms: number;
  over_http: boolean;
}

const rate = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 1000) / 1000 : 0);
const usd = (n: number) => Math.round(n * 1e6) / 1e6;
const norm = (s: unknown) => (typeof s === 'string' ? s.trim().toLowerCase() : '');
const nameKey = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();

interface ContactRow {
  account_id: number;
  full_name: string | null;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  phone: string | null;
  linkedin_url: string | null;
}

/**
 * Scores a finished demo batch: found rates from the records, accuracy against the sandbox world's
 * ground truth (people matched by name at the course, courses by domain), and calls, hits, cost and
 * latency per provider from the ledger.
 */
export async function buildDemoReport(
  db: Queryable,
  batchId: number,
  world: World,
  providers: (id: string) => ProviderDefinition | undefined,
  extra: {
    wallTimeS: number;
    limits: LimitReport;
    fakeRequests: Record<string, number>;
    /** Whether a provider's requests are HTTP round trips (else in-process). */
    overHttp: (provider: string) => boolean;
  },
): Promise<DemoReport> {
  const runs = await db.query<{ account_id: number; state: string }>(
    'SELECT account_id, state FROM runs WHERE batch_id = $1',
    [batchId],
  );
  const accountIds = runs.rows.map((r) => r.account_id);
  const enriched = runs.rows.filter((r) => r.state === 'enriched' || r.state === 'partial').length;
  const failed = runs.rows.filter((r) => r.state === 'failed').length;
  const accounts = await db.query<{
    id: number;
    domain: string | null;
    name: string | null;
    segment: string | null;
  }>('SELECT id, domain, name, segment FROM accounts WHERE id = ANY($1::bigint[])', [accountIds]);
  const contacts = await db.query<ContactRow>(
    `SELECT account_id, full_name, first_name, last_name, email, phone, linkedin_url
       FROM contacts WHERE account_id = ANY($1::bigint[])`,
    [accountIds],
  );
  const companyOf = new Map<number, World['companies'][number]>();
  for (const a of accounts.rows) {
    const c =
      (a.domain && world.byDomain.get(a.domain)) ||
      world.companies.find((x) => nameKey(x.name) === nameKey(a.name ?? ''));
    if (c) companyOf.set(a.id, c);
  }
  let segmentsRight = 0;
  let segmentsScored = 0;
  for (const a of accounts.rows) {
    const truth = companyOf.get(a.id)?.course?.segment;
    if (!truth || !a.segment) continue;
    segmentsScored++;
    if (a.segment === truth) segmentsRight++;
  }
  const found = { email: 0, phone: 0, direct: 0, mainLine: 0, linkedin: 0, any: 0 };
  const checked = { email: 0, direct: 0, linkedin: 0 };
  const right = { email: 0, direct: 0, linkedin: 0 };
  let matched = 0;
  const digits = (s: string) => s.replace(/\D/g, '').slice(-10);
  for (const c of contacts.rows) {
    const company = companyOf.get(c.account_id);
    const isMainLine = Boolean(c.phone && company && digits(c.phone) === digits(company.phone));
    if (c.email) found.email++;
    if (c.phone) found.phone++;
    if (c.phone && isMainLine) found.mainLine++;
    if (c.phone && !isMainLine) found.direct++;
    if (c.linkedin_url) found.linkedin++;
    if (c.email || c.phone || c.linkedin_url) found.any++;
    const name = nameKey(c.full_name ?? `${c.first_name ?? ''} ${c.last_name ?? ''}`);
    const person = company?.people.find((p) => nameKey(p.fullName) === name);
    if (!person) continue;
    matched++;
    if (c.email) {
      checked.email++;
      if (norm(c.email) === norm(person.email)) right.email++;
    }
    if (c.phone && !isMainLine) {
      checked.direct++;
      if (person.phone && digits(c.phone) === digits(person.phone)) right.direct++;
    }
    if (c.linkedin_url) {
      checked.linkedin++;
      if (
        person.linkedinUrl &&
        norm(c.linkedin_url).replace(/\/$/, '') === norm(person.linkedinUrl).replace(/\/$/, '')
      )
        right.linkedin++;
    }
  }

  const ledger = await db.query<{
    provider: string;
    calls: number;
    hits: number;
    cache_hits: number;
    requests: number;
    cost: number;
    median: number | null;
  }>(
    `SELECT provider,
            count(*) FILTER (WHERE attempt <= 1 AND status <> 'refused')::int AS calls,
            count(*) FILTER (WHERE status = 'found')::int AS hits,
            count(*) FILTER (WHERE cache IN ('hit', 'coalesced'))::int AS cache_hits,
            count(*) FILTER (WHERE attempt >= 1)::int AS requests,
            coalesce(sum(cost_usd), 0)::float8 AS cost,
            (percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE attempt >= 1))::float8 AS median
       FROM ledger WHERE batch_id = $1 GROUP BY provider ORDER BY provider`,
    [batchId],
  );
  const providerStats: ProviderStats[] = ledger.rows.map((r) => ({
    provider: r.provider,
    calls: r.calls,
    hits: r.hits,
    cache_hits: r.cache_hits,
    requests: r.requests,
    cost_usd: usd(r.cost),
    median_latency_ms: Math.round(r.median ?? 0),
    over_http: extra.overHttp(r.provider),
  }));
  const totalCost = providerStats.reduce((s, p) => s + p.cost_usd, 0);
  const paidCalls = providerStats
    .filter((p) => !providers(p.provider)?.free)
    .reduce((s, p) => s + p.requests, 0);
  const n = contacts.rows.length;
  return {
    sandbox: true,
    measured_against: 'simulated world',
    accounts_selected: runs.rows.length,
    accounts_enriched: enriched,
    accounts_failed: failed,
    contacts_found: n,
    contacts_matched: matched,
    email_found_rate: rate(found.email, n),
    email_accuracy: rate(right.email, checked.email),
    phone_found_rate: rate(found.phone, n),
    phone_direct_found_rate: rate(found.direct, n),
    phone_direct_accuracy: rate(right.direct, checked.direct),
    phone_main_line_rate: rate(found.mainLine, n),
    linkedin_found_rate: rate(found.linkedin, n),
    linkedin_accuracy: rate(right.linkedin, checked.linkedin),
    segment_accuracy: rate(segmentsRight, segmentsScored),
    paid_calls: paidCalls,
    calls: providerStats.reduce((s, p) => s + p.calls, 0),
    cache_hits: providerStats.reduce((s, p) => s + p.cache_hits, 0),
    total_cost_usd: usd(totalCost),
    cost_per_enriched_contact_usd: found.any > 0 ? usd(totalCost / found.any) : 0,
    wall_time_s: Math.round(extra.wallTimeS * 100) / 100,
    limits: extra.limits,
    fake_requests: extra.fakeRequests,
    providers: providerStats,
  };
}
