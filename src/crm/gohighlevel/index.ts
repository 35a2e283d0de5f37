import { ConfigError, CriticalError, RetryableError, ThrottledError } from '../../errors.ts';
import type { HttpResponse } from '../../providers/define-provider.ts';
import { defaultMapError, parseRetryAfter } from '../../providers/http.ts';
import { defineDestination } from '../define-destination.ts';
import { createGoHighLevelSession } from './gohighlevel-session.ts';

/**
 * GoHighLevel / LeadConnector API v2 (docs/provider-apis.md §5): contacts of one location, upserted
 * (`POST /contacts/upsert` matches by email, then phone, so a retried create never duplicates while
 * one of them is sent), custom fields by name (resolved to ids at start), tags added without removing
 * a rep's, owners as `assignedTo`. Auth: `GHL_API_KEY` (a Private Integration Token `pit-...` or an
 * OAuth access token) plus `GHL_LOCATION_ID`, and the required `Version: 2021-07-28` header. Routing
 * (`Pipeline/Stage`) places a created contact's opportunity (upserted per contact and pipeline). Limits
 * per app and location: 100 requests per 10 s and 200,000 per day.
 */
const ref = { id: 'gohighlevel', auth: { envVar: 'GHL_API_KEY', required: true } } as const;

function mapGhlError(res: HttpResponse) {
  const body = (res.body ?? {}) as { message?: string | string[]; error?: string };
  const message = Array.isArray(body.message)
    ? body.message.join('; ')
    : (body.message ?? res.text.slice(0, 160));
  if (res.status === 429) {
    const daily = Number(res.headers.get('x-ratelimit-daily-remaining'));
    const interval = Number(res.headers.get('x-ratelimit-interval-milliseconds'));
    const retryAfterMs =
      parseRetryAfter(res.headers.get('retry-after')) ??
      (daily === 0
        ? 60 * 60_000
        : Number.isFinite(interval) && interval > 0
          ? Math.min(interval, 10_000)
          : undefined);
    return new ThrottledError(`gohighlevel rate limit hit (HTTP 429 ${message})`, { retryAfterMs });
  }
  if (res.status === 401)
    return new ConfigError(`gohighlevel rejected the token (${message}): check GHL_API_KEY`);
  if (res.status === 403)
    return new ConfigError(`gohighlevel: ${message}: check GHL_LOCATION_ID and the token's scopes`);
  if (res.status === 422 || res.status === 400)
    return new CriticalError(`gohighlevel refused the record (HTTP ${res.status}: ${message})`);
  if (res.status >= 500) return new RetryableError(`gohighlevel answered HTTP ${res.status}: ${message}`);
  return defaultMapError(ref, res);
}

export const gohighlevel = defineDestination({
  id: 'gohighlevel',
  name: 'GoHighLevel',
  auth: {
    envVar: 'GHL_API_KEY',
    extra: [{ envVar: 'GHL_LOCATION_ID', description: 'the sub-account (location) the contacts belong to' }],
  },
  baseUrl: 'https://services.leadconnectorhq.com',
  applyAuth: (req, token) => ({
    ...req,
    headers: { ...req.headers, authorization: `Bearer ${token}`, version: '2021-07-28' },
  }),
  limits: [
    { limit: 100, windowMs: 10_000, label: '100/10s' },
    { limit: 200_000, windowMs: 86_400_000, label: '200000/day' },
  ],
  concurrency: 6,
  mapError: mapGhlError,
  objects: {
    contacts: {
      description:
        'contacts of the location, upserted by email (or phone); custom fields by name; routing.list "Pipeline/Stage" gives a created contact an opportunity there',
    },
  },
  fieldTypes: [
    'TEXT',
    'LARGE_TEXT',
    'NUMERICAL',
    'PHONE',
    'MONETORY',
    'CHECKBOX',
    'SINGLE_OPTIONS',
    'MULTIPLE_OPTIONS',
    'DATE',
  ],
  async connect(client, target) {
    return createGoHighLevelSession(client, target);
  },
});
