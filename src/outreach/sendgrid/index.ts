import { z } from 'zod';
import {
  ConfigError,
  CriticalError,
  RetryableError,
  type SluiceError,
  ThrottledError,
} from '../../errors.ts';
import type { HttpResponse } from '../../providers/define-provider.ts';
import { parseRetryAfter } from '../../providers/http.ts';
import { defineEmailProvider, type SendLookup } from '../email-provider.ts';

/**
 * SendGrid v3 (docs/provider-apis.md §11): `POST /v3/mail/send` answers 202 with an empty body and the
 * message id in `X-Message-Id`; `custom_args.sluice_send_id` carries Sluice's send id into every event.
 * mail/send has no idempotency key, so sends go through the outbox (run-due-steps.ts) and an ambiguous
 * failure is looked up in the Email Activity API (`GET /v3/messages?query=unique_args[...]`) before
 * anything is sent again. The activity feed lags by minutes: "not found" is believed only for an attempt
 * older than `LOOKUP_TRUST_AFTER_MS`.
 */
const LOOKUP_TRUST_AFTER_MS = 10 * 60_000;
/** Env override of the lag allowance (the sandbox's activity feed has none). */
const LOOKUP_TRUST_ENV = 'SLUICE_SENDGRID_ACTIVITY_LAG_MS';

const errorsBody = z.object({
  errors: z.array(z.object({ message: z.string().nullish(), field: z.string().nullish() })).optional(),
});

function detail(res: HttpResponse): string {
  const b = errorsBody.safeParse(res.body);
  const first = b.success ? b.data.errors?.[0] : undefined;
  return first ? `${first.message ?? ''}${first.field ? ` (${first.field})` : ''}` : res.text.slice(0, 200);
}

const activity = z.object({
  messages: z.array(z.object({ msg_id: z.string(), status: z.string().optional() })),
});

export const sendgrid = defineEmailProvider({
  id: 'sendgrid',
  name: 'SendGrid',
  auth: { envVar: 'SENDGRID_API_KEY' },
  baseUrl: 'https://api.sendgrid.com',
  applyAuth: (req, token) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } }),
  // mail/send sends no rate headers (about 10k/s in practice); other v3 endpoints are limited per key
  limits: [{ limit: 600, windowMs: 1_000, label: '600/s' }],
  concurrency: 8,
  mode: 'message',
  mapError(res): SluiceError {
    const what = `sendgrid answered HTTP ${res.status}: ${detail(res)}`;
    if (res.status === 429)
      return new ThrottledError(what, {
        retryAfterMs:
          parseRetryAfter(res.headers.get('retry-after')) ??
          (res.headers.get('x-ratelimit-reset')
            ? Math.max(0, Number(res.headers.get('x-ratelimit-reset')) * 1000 - Date.now())
            : undefined),
      });
    if (res.status === 401 || res.status === 403)
      return new ConfigError(`${what}: check SENDGRID_API_KEY (it needs the mail.send scope)`);
    if (res.status >= 500) return new RetryableError(what);
    return new CriticalError(`${what} (the message was refused; it was not sent)`);
  },
  connect(client) {
    return {
      provider: 'sendgrid',
      mode: 'message',
      async send(m) {
        const res = await client.request({
          method: 'POST',
          path: '/v3/mail/send',
          responseType: 'text',
          body: {
            personalizations: [{ to: [m.to], custom_args: { sluice_send_id: m.sendKey } }],
            from: m.from,
            ...(m.replyTo ? { reply_to: m.replyTo } : {}),
            subject: m.subject,
            content: [{ type: 'text/plain', value: m.text }],
            headers: m.headers,
            ...(m.categories?.length ? { categories: m.categories } : {}),
          },
        });
        const id = res.headers.get('x-message-id');
        if (res.status !== 202 || !id)
          throw new RetryableError(
            `sendgrid answered HTTP ${res.status} without X-Message-Id: the send is unconfirmed`,
          );
        return { messageId: id };
      },
      async lookupSend(sendKey, attemptedAt): Promise<SendLookup> {
        let res: HttpResponse;
        try {
          res = await client.request(
            {
              method: 'GET',
              path: '/v3/messages',
              query: { limit: 10, query: `unique_args['sluice_send_id']="${sendKey}"` },
              acceptStatus: [403, 404],
            },
            { idempotent: true },
          );
        } catch (err) {
          if (err instanceof RetryableError) return { found: 'unknown' };
          throw err;
        }
        // without the Email Activity add-on the feed answers 403/404: only events can tell
        if (res.status !== 200) return { found: 'unknown' };
        const parsed = activity.safeParse(res.body);
        if (!parsed.success) return { found: 'unknown' };
        const hit = parsed.data.messages[0];
        if (hit) return { found: true, messageId: hit.msg_id };
        const lag = Number(client.env[LOOKUP_TRUST_ENV] ?? LOOKUP_TRUST_AFTER_MS);
        return Date.now() - attemptedAt.getTime() >= lag ? { found: false } : { found: 'unknown' };
      },
    };
  },
});
