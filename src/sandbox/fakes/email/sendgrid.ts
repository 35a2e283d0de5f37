import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { unit } from '../../rng.ts';
import type { Company, World } from '../../world.ts';
import { RollingWindow } from '../crm/crm-kit.ts';
import { companyIndex, type Reaction, reactTo } from './recipient-behaviour.ts';

/**
 * Fake SendGrid v3 (docs/provider-apis.md §11): Bearer auth (`errors[]` bodies on 400/401/403/413),
 * `POST /v3/mail/send` → 202 with an empty body and `X-Message-Id` (at most 1000 personalizations and
 * 1000 recipients), the Email Activity feed `GET /v3/messages?query=unique_args['k']="v"` (rate-limited,
 * with X-RateLimit headers, like every v3 endpoint but mail/send), the signed Event Webhook (ECDSA
 * P-256: the public key at `GET /v3/user/webhooks/event/settings/signed`), and Inbound Parse posts
 * (multipart/form-data) for replies. What each recipient does is decided by recipient-behaviour.ts from
 * the message; events are queued and sent by `flush()` (tests) or every `autoFlushMs` (demo), each event
 * delivered twice now and then, as SendGrid does.
 */
export interface SentMessage {
  id: string;
  sendKey: string | undefined;
  to: string;
  from: string;
  subject: string;
  text: string;
  headers: Record<string, string>;
  at: number;
  reaction: Reaction;
}

export interface SendGridFaults {
  /** The next N sends are accepted, then answered 502 (the caller cannot know). */
  loseAnswers: number;
  /** Every request fails with this status while set. */
  failWith: number | undefined;
  /** Answer delay of mail/send, ms. */
  sendDelayMs: number;
  /** After this many accepted messages, answers are held (never sent): a process killed mid-send. */
  holdAnswersAfter: number | undefined;
}

export interface SendGridFake {
  app: Hono;
  apiKey: string;
  publicKey: string;
  messages: SentMessage[];
  faults: SendGridFaults;
  stats: { requests: number; sends: number; throttled: number; eventsSent: number; inboundSent: number };
  /** Where events and replies go (Sluice's `/v1/hooks/sendgrid` and `/v1/hooks/sendgrid-inbound/<token>`). */
  configure(o: { eventUrl?: string; inboundUrl?: string }): void;
  /** Delivers queued events and replies; resolves when all were answered. */
  flush(): Promise<void>;
  /** Messages by send id (tests: nobody emailed twice). */
  bySendKey(): Map<string, SentMessage[]>;
}

export interface SendGridFakeOptions {
  apiKey?: string;
  world?: World;
  seed?: number;
  /** Activity-feed requests per minute. Default 600. */
  activityPerMinute?: number;
  /** Share of events SendGrid delivers twice. Default 0.3. */
  duplicateRate?: number;
}

type Queued =
  | { kind: 'event'; body: Record<string, unknown> }
  | { kind: 'inbound'; form: Record<string, string> };

export function createSendGridFake(options: SendGridFakeOptions = {}): SendGridFake {
  const apiKey = options.apiKey ?? 'SG.sandbox-sendgrid-key';
  const seed = options.seed ?? 1;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const publicKeyB64 = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const messages: SentMessage[] = [];
  const faults: SendGridFaults = {
    loseAnswers: 0,
    failWith: undefined,
    sendDelayMs: 0,
    holdAnswersAfter: undefined,
  };
  const stats = { requests: 0, sends: 0, throttled: 0, eventsSent: 0, inboundSent: 0 };
  const activity = new RollingWindow(options.activityPerMinute ?? 600, 60_000);
  const companies: Map<string, Company> = options.world ? companyIndex(options.world) : new Map();
  let eventUrl: string | undefined;
  let inboundUrl: string | undefined;
  let queue: Queued[] = [];
  let n = 0;
  let batches = 0;
  const errors = (c: Context, status: number, message: string, field: string | null = null) =>
    c.json({ errors: [{ message, field, help: null }] }, status as 400);

  const app = new Hono();
  app.use('*', async (c, next) => {
    stats.requests++;
    const auth = c.req.header('authorization') ?? '';
    if (auth !== `Bearer ${apiKey}`)
      return errors(c, 401, 'The provided authorization grant is invalid, expired, or revoked');
    if (faults.failWith) return errors(c, faults.failWith, 'internal error');
    await next();
  });

  app.post('/v3/mail/send', async (c) => {
    const raw = await c.req.text();
    if (raw.length > 30 * 1024 * 1024) return errors(c, 413, 'Payload Too Large');
    let b: Record<string, unknown>;
    try {
      b = JSON.parse(raw);
    } catch {
      return errors(c, 400, 'Bad Request', null);
    }
    const ps = b.personalizations as {
      to?: { email?: string }[];
      custom_args?: Record<string, string>;
      subject?: string;
    }[];
    if (!Array.isArray(ps) || ps.length === 0)
      return errors(
        c,
        400,
        'The personalizations field is required and must have at least one personalization.',
        'personalizations',
      );
    if (ps.length > 1000)
      return errors(
        c,
        400,
        'The personalizations field must have no more than 1000 items.',
        'personalizations',
      );
    const from = (b.from as { email?: string } | undefined)?.email;
    if (!from) return errors(c, 400, 'The from object must be provided for every email send.', 'from');
    const content = b.content as { type?: string; value?: string }[] | undefined;
    if (!content?.[0]?.value)
      return errors(
        c,
        400,
        'The content value must be a string at least one character in length.',
        'content.0.value',
      );
    let recipients = 0;
    for (const [i, p] of ps.entries()) {
      if (!p.to?.length || !p.to.every((t) => typeof t.email === 'string' && /.+@.+\..+/.test(t.email)))
        return errors(c, 400, 'Does not contain a valid address.', `personalizations.${i}.to`);
      recipients += p.to.length;
      if (!(p.subject ?? b.subject)) return errors(c, 400, 'The subject is required.', 'subject');
    }
    if (recipients > 1000) return errors(c, 400, 'Too many recipients (1000 at most).', 'personalizations');
    const id = `${randomBytes(11).toString('base64url')}`;
    const text = content.find((x) => x.type === 'text/plain')?.value ?? content[0]!.value ?? '';
    for (const p of ps) {
      const sendKey =
        p.custom_args?.sluice_send_id ??
        (b.custom_args as Record<string, string> | undefined)?.sluice_send_id;
      for (const t of p.to!) {
        const to = t.email!.toLowerCase();
        const step = Number(/:(\d+)$/.exec(sendKey ?? '')?.[1] ?? 0);
        const reaction: Reaction = options.world
          ? reactTo(options.world, companies, seed, { to, body: `${text}`, step })
          : { kind: 'delivered' };
        const m: SentMessage = {
          id: `${id}.filter0001.${++n}`,
          sendKey,
          to,
          from,
          subject: String(p.subject ?? b.subject),
          text,
          headers: (b.headers as Record<string, string>) ?? {},
          at: Date.now(),
          reaction,
        };
        messages.push(m);
        stats.sends++;
        queueEvents(m);
      }
    }
    // accepted before it answers: an answer delayed (or lost) says nothing about whether it was sent
    if (faults.sendDelayMs) await new Promise((r) => setTimeout(r, faults.sendDelayMs));
    if (faults.holdAnswersAfter !== undefined && messages.length > faults.holdAnswersAfter)
      await new Promise((r) => setTimeout(r, 10 * 60_000).unref());
    if (faults.loseAnswers > 0) {
      faults.loseAnswers--;
      return c.text('Bad Gateway', 502);
    }
    return c.body(null, 202, { 'X-Message-Id': id });
  });

  function event(m: SentMessage, event: string, extra: Record<string, unknown> = {}) {
    queue.push({
      kind: 'event',
      body: {
        email: m.to,
        timestamp: Math.floor(Date.now() / 1000),
        'smtp-id': `<${m.id}@sandbox.sendgrid.test>`,
        event,
        category: [],
        sg_event_id: randomBytes(16).toString('base64url'),
        sg_message_id: m.id,
        ...(m.sendKey ? { sluice_send_id: m.sendKey } : {}),
        ...extra,
      },
    });
  }

  function queueEvents(m: SentMessage) {
    event(m, 'processed');
    const r = m.reaction;
    if (r.kind === 'bounce') {
      event(m, 'bounce', {
        type: 'bounce',
        status: '5.1.1',
        reason: '550 5.1.1 The email account that you tried to reach does not exist.',
      });
      return;
    }
    event(m, 'delivered', { response: '250 OK' });
    if (r.kind === 'unsubscribe') event(m, 'unsubscribe');
    if (r.kind === 'complaint') event(m, 'spamreport');
    if (r.kind === 'reply' || r.kind === 'auto_reply') {
      const headers = [
        `Message-ID: <reply.${m.id}@${m.to.split('@')[1]}>`,
        `In-Reply-To: <${m.id}@sandbox.sendgrid.test>`,
        ...(r.kind === 'auto_reply' ? ['Auto-Submitted: auto-replied'] : []),
      ].join('\n');
      queue.push({
        kind: 'inbound',
        form: {
          from: `${m.to}`,
          to: m.from,
          subject: `Re: ${m.subject}`,
          text: `${r.text ?? ''}\n\nOn ${new Date(m.at).toUTCString()}, ${m.from} wrote:\n> ${m.text.split('\n')[0]}`,
          headers,
          envelope: JSON.stringify({ to: [m.from], from: m.to }),
        },
      });
    }
  }

  app.get('/v3/messages', (c) => {
    const slot = activity.take();
    const headers = {
      'X-RateLimit-Limit': String(activity.limit),
      'X-RateLimit-Remaining': String(slot.remaining),
      'X-RateLimit-Reset': String(Math.ceil((Date.now() + slot.resetMs) / 1000)),
    };
    if (!slot.allowed) {
      stats.throttled++;
      return c.json({ errors: [{ field: null, message: 'too many requests' }] }, 429, headers);
    }
    const q = c.req.query('query') ?? '';
    const m = /unique_args\['([^']+)'\]="([^"]*)"/.exec(q);
    if (!m) return c.json({ errors: [{ field: 'query', message: 'invalid query' }] }, 400, headers);
    const limit = Math.min(1000, Number(c.req.query('limit') ?? 10));
    const hits = messages.filter((x) => m[1] === 'sluice_send_id' && x.sendKey === m[2]).slice(0, limit);
    return c.json(
      {
        messages: hits.map((x) => ({
          from_email: x.from,
          msg_id: x.id,
          subject: x.subject,
          to_email: x.to,
          status: x.reaction.kind === 'bounce' ? 'not_delivered' : 'delivered',
          opens_count: 0,
          clicks_count: 0,
          last_event_time: new Date(x.at).toISOString(),
        })),
      },
      200,
      headers,
    );
  });

  app.get('/v3/user/webhooks/event/settings/signed', (c) => c.json({ public_key: publicKeyB64 }));
  app.patch('/v3/user/webhooks/event/settings', async (c) => {
    const b = (await c.req.json().catch(() => ({}))) as { enabled?: boolean; url?: string };
    if (b.url) eventUrl = b.url;
    return c.json({ enabled: b.enabled ?? true, url: eventUrl ?? '' });
  });

  const post = async (url: string, body: string | FormData, headers: Record<string, string>) => {
    const u = new URL(url);
    if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') return;
    try {
      const res = await fetch(u, { method: 'POST', body, headers, signal: AbortSignal.timeout(7_000) });
      await res.arrayBuffer();
    } catch {
      // a receiver that is down misses it, as with the real service's retries exhausted
    }
  };

  return {
    app,
    apiKey,
    publicKey: publicKeyB64,
    messages,
    faults,
    stats,
    configure(o) {
      if (o.eventUrl !== undefined) eventUrl = o.eventUrl;
      if (o.inboundUrl !== undefined) inboundUrl = o.inboundUrl;
    },
    async flush() {
      const items = queue;
      queue = [];
      const events = items.filter((x) => x.kind === 'event').map((x) => x.body);
      if (eventUrl && events.length) {
        // SendGrid batches events and delivers some batches more than once (dedupe on sg_event_id)
        for (let i = 0; i < events.length; i += 128) {
          const batch = JSON.stringify(events.slice(i, i + 128));
          const times = unit(seed, `sendgrid:dup:${++batches}`) < (options.duplicateRate ?? 0.3) ? 2 : 1;
          for (let t = 0; t < times; t++) {
            const ts = String(Math.floor(Date.now() / 1000));
            const signature = sign('sha256', Buffer.from(ts + batch), privateKey).toString('base64');
            stats.eventsSent++;
            await post(eventUrl, batch, {
              'content-type': 'application/json',
              'X-Twilio-Email-Event-Webhook-Signature': signature,
              'X-Twilio-Email-Event-Webhook-Timestamp': ts,
            });
          }
        }
      }
      if (inboundUrl)
        for (const x of items) {
          if (x.kind !== 'inbound') continue;
          const form = new FormData();
          for (const [k, v] of Object.entries(x.form)) form.set(k, v);
          stats.inboundSent++;
          await post(inboundUrl, form, {});
        }
    },
    bySendKey() {
      const out = new Map<string, SentMessage[]>();
      for (const m of messages) if (m.sendKey) out.set(m.sendKey, [...(out.get(m.sendKey) ?? []), m]);
      return out;
    },
  };
}
