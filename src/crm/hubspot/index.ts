import {
  ConfigError,
  NotFoundError,
  QuotaExhaustedError,
  RetryableError,
  ThrottledError,
} from '../../errors.ts';
import type { HttpResponse } from '../../providers/define-provider.ts';
import { defaultMapError, parseRetryAfter } from '../../providers/http.ts';
import { defineDestination } from '../define-destination.ts';
import { createHubSpotSession } from './hubspot-session.ts';

/**
 * HubSpot CRM v3 (docs/provider-apis.md §4): companies and contacts, associated with the v4 default
 * association. Writes are batch upserts on `sluice_id`, a custom property with unique values (HubSpot
 * cannot upsert companies by `domain`; contacts match by email on their first sync only), so a
 * retried write never duplicates: no outbox needed. 190 requests per 10 s (Professional; Starter 100,
 * set SLUICE_HUBSPOT_RATE_LIMIT) and 5/s on search, which sends no rate headers. Search is eventually
 * consistent, so it is never used to decide whether to create.
 */
const ref = { id: 'hubspot', auth: { envVar: 'HUBSPOT_ACCESS_TOKEN', required: true } } as const;

function mapHubSpotError(res: HttpResponse) {
  const body = (res.body ?? {}) as {
    message?: string;
    category?: string;
    policyName?: string;
    errorType?: string;
  };
  const detail = `${body.category ?? body.errorType ?? ''} ${body.message ?? res.text.slice(0, 160)}`.trim();
  if (res.status === 429) {
    if (body.policyName === 'DAILY')
      return new QuotaExhaustedError(
        `hubspot daily request limit reached (${detail}); it resets at midnight in the account's time zone`,
      );
    const interval = Number(res.headers.get('x-hubspot-ratelimit-interval-milliseconds'));
    const retryAfterMs =
      parseRetryAfter(res.headers.get('retry-after')) ??
      (body.policyName === 'SECONDLY'
        ? 1_000
        : Number.isFinite(interval) && interval > 0
          ? Math.min(interval, 10_000)
          : undefined);
    return new ThrottledError(`hubspot rate limit hit (HTTP 429 ${detail})`, { retryAfterMs });
  }
  if (res.status === 401)
    return new ConfigError(`hubspot rejected the token (${detail}): check HUBSPOT_ACCESS_TOKEN`);
  if (res.status === 404) return new NotFoundError(`hubspot: ${detail}`);
  if (res.status >= 500 || res.status === 423)
    return new RetryableError(`hubspot answered HTTP ${res.status}: ${detail}`);
  return defaultMapError(ref, res);
}

export const hubspot = defineDestination({
  id: 'hubspot',
  name: 'HubSpot',
  auth: { envVar: 'HUBSPOT_ACCESS_TOKEN' },
  baseUrl: 'https://api.hubapi.com',
  applyAuth: (req, token) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } }),
  limits: [{ limit: 190, windowMs: 10_000, label: '190/10s' }],
  searchLimits: [{ limit: 5, windowMs: 1_000, label: '5/s' }],
  concurrency: 10,
  mapError: mapHubSpotError,
  objects: {
    contacts: {
      description: 'people, upserted on sluice_id (email on the first match), associated with their company',
      parent: 'companies',
    },
    companies: { description: 'companies, upserted on sluice_id (domain is not unique in HubSpot)' },
  },
  fieldTypes: ['string', 'number', 'date', 'datetime', 'enumeration', 'bool'],
  async connect(client, target) {
    return createHubSpotSession(client, target);
  },
});
