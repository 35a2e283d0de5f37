import { ConfigError, RetryableError, ThrottledError } from '../../errors.ts';
import type { HttpResponse } from '../../providers/define-provider.ts';
import { defaultMapError } from '../../providers/http.ts';
import { defineDestination } from '../define-destination.ts';
import { resolveLayout } from './clickup-layout.ts';
import { createClickUpSession } from './clickup-session.ts';

/**
 * ClickUp API v2 (docs/provider-apis.md §3): tasks in lists, custom fields (dropdown options resolved
 * by name at start), owners as assignees. Personal tokens go in `Authorization` without "Bearer".
 * 100 requests/min per token on Free, Unlimited and Business plans; a 429 carries X-RateLimit-Reset in
 * Unix seconds. Task create has no idempotency key: creates go through the sync outbox and are
 * reconciled by looking the `sluice_id` custom field up with `==` (`=` is a fuzzy contains).
 */
const ref = { id: 'clickup', auth: { envVar: 'CLICKUP_API_KEY', required: true } } as const;

function mapClickUpError(res: HttpResponse) {
  const body = (res.body ?? {}) as { err?: string; ECODE?: string };
  const detail = `${body.err ?? res.text.slice(0, 120)}${body.ECODE ? ` (${body.ECODE})` : ''}`;
  if (res.status === 429) {
    const reset = Number(res.headers.get('x-ratelimit-reset'));
    const retryAfterMs =
      Number.isFinite(reset) && reset > 0 ? Math.max(0, reset * 1000 - Date.now()) + 50 : undefined;
    return new ThrottledError(`clickup rate limit hit (HTTP 429 ${detail})`, { retryAfterMs });
  }
  if (res.status === 401 || (body.ECODE ?? '').startsWith('OAUTH_')) {
    // the whole sync stops: no row can succeed, and a batch must not be bisected over it
    return new ConfigError(
      `clickup rejected the token (HTTP ${res.status} ${detail}): check CLICKUP_API_KEY`,
    );
  }
  if (res.status >= 500) return new RetryableError(`clickup answered HTTP ${res.status}: ${detail}`);
  return defaultMapError(ref, res);
}

export const clickup = defineDestination({
  id: 'clickup',
  name: 'ClickUp',
  auth: { envVar: 'CLICKUP_API_KEY' },
  baseUrl: 'https://api.clickup.com/api/v2',
  applyAuth: (req, token) => ({ ...req, headers: { ...req.headers, authorization: token } }),
  limits: [{ limit: 100, windowMs: 60_000, label: '100/min' }],
  concurrency: 4,
  mapError: mapClickUpError,
  objects: {
    task: { description: 'a task in a list (one per contact or account), custom fields set by name' },
  },
  fieldTypes: [
    'url',
    'drop_down',
    'email',
    'phone',
    'date',
    'text',
    'short_text',
    'checkbox',
    'number',
    'currency',
    'labels',
    'label',
  ],
  async connect(client, target) {
    return createClickUpSession(client, await resolveLayout(client, target));
  },
});
