import { CriticalError } from '../../errors.ts';
import { upsertRecords } from '../../import/upsert-records.ts';
import { parseEmail } from '../../normalize/email.ts';
import type { InboundSource } from './inbound-registry.ts';
import { genericEventId, genericHmacVerify } from './signed-sources.ts';
import { safeEqual, sha256Hex } from './verify-hmac.ts';

/**
 * RB2B visitor webhooks (docs/provider-apis.md §10): no signature, so a secret token in the URL
 * (`/v1/hooks/rb2b/<token>`, or `?token=`), compared in constant time with SLUICE_HOOK_RB2B_TOKEN. No
 * event id either: the dedupe key hashes who, when and which page. Each event creates or merges the
 * company and the person (when the payload has one) with source `rb2b`; both get `source = rb2b` as a
 * field, so trigger rules can filter on it.
 */
export const rb2bSource: InboundSource = {
  id: 'rb2b',
  secretEnv: 'SLUICE_HOOK_RB2B_TOKEN',
  verify(req, secret) {
    const token = req.token ?? new URL(req.url).searchParams.get('token') ?? undefined;
    if (!token) return 'missing token: call /v1/hooks/rb2b/<SLUICE_HOOK_RB2B_TOKEN>';
    return safeEqual(token, secret) ? undefined : 'wrong token';
  },
  eventId(_req, body) {
    const b = (body ?? {}) as Record<string, unknown>;
    const who = b['LinkedIn URL'] ?? b['Business Email'] ?? b['Company Name'] ?? b.Website;
    return `visit:${sha256Hex(JSON.stringify([who, b['Seen At'], b['Captured URL']]))}`;
  },
  async process(event, { db }) {
    const b = event.body as Record<string, unknown> | null;
    if (!b || typeof b !== 'object' || Array.isArray(b))
      throw new CriticalError('RB2B event is not a JSON object');
    const s = (k: string) => (b[k] === null || b[k] === undefined || b[k] === '' ? undefined : b[k]);
    const company = {
      name: s('Company Name'),
      website: s('Website'),
      industry: s('Industry'),
      employee_count: s('Employee Count'),
      estimated_revenue: s('Estimate Revenue'),
      source: 'rb2b',
    };
    const hasCompany = company.name !== undefined || company.website !== undefined;
    const hasPerson =
      s('First Name') !== undefined || s('Last Name') !== undefined || s('Business Email') !== undefined;
    const out: Record<string, unknown> = {};
    if (hasCompany && !hasPerson) {
      const [r] = await upsertRecords(
        db,
        'accounts',
        [{ ...company, city: s('City'), state: s('State'), postal_code: s('Zipcode') }],
        { source: 'rb2b' },
      );
      out.account = r;
    }
    if (hasPerson) {
      // a malformed email must not lose the visit: it is kept as email_raw, the person still recorded
      const email = s('Business Email');
      const parsed = email === undefined ? undefined : parseEmail(email);
      const person = {
        first_name: s('First Name'),
        last_name: s('Last Name'),
        title: s('Title'),
        ...(parsed?.ok ? { email: parsed.email } : email !== undefined ? { email_raw: email } : {}),
        linkedin_url: s('LinkedIn URL'),
        city: s('City'),
        state: s('State'),
        postal_code: s('Zipcode'),
        last_seen_at: s('Seen At'),
        last_page: s('Captured URL'),
        referrer: s('Referrer'),
        tags:
          typeof b.Tags === 'string'
            ? b.Tags.split(',')
                .map((t) => t.trim())
                .filter(Boolean)
            : undefined,
        repeat_visit: s('is_repeat_visit'),
        source: 'rb2b',
        ...(hasCompany ? { account: company } : {}),
      };
      const [r] = await upsertRecords(db, 'contacts', [person], { source: 'rb2b' });
      out.contact = r;
    }
    if (!hasCompany && !hasPerson) throw new CriticalError('RB2B event names neither a company nor a person');
    const failed = Object.values(out).find((r) => r && typeof r === 'object' && 'error' in r);
    if (failed) throw new CriticalError(`RB2B event rejected: ${(failed as { error: string }).error}`);
    return out;
  },
};

/** Signed generic events that create or merge accounts and contacts (source `webhook`). */
export const genericSource: InboundSource = {
  id: 'generic',
  secretEnv: 'SLUICE_HOOK_GENERIC_SECRET',
  verify: genericHmacVerify,
  eventId: (req) => genericEventId(req),
  async process(event, { db }) {
    const b = event.body as { type?: unknown; data?: unknown } | null;
    const kind =
      b?.type === 'account.upsert' ? 'accounts' : b?.type === 'contact.upsert' ? 'contacts' : undefined;
    if (!kind) throw new CriticalError('generic event: "type" must be account.upsert or contact.upsert');
    const data = Array.isArray(b?.data) ? b.data : [b?.data];
    if (data.some((d) => !d || typeof d !== 'object'))
      throw new CriticalError('generic event: "data" must be an object or an array of objects');
    return {
      results: await upsertRecords(db, kind, data as Record<string, unknown>[], { source: 'webhook' }),
    };
  },
};
