import { CriticalError } from '../errors.ts';
import type { InboundRegistry, InboundSource } from '../webhooks/inbound/inbound-registry.ts';
import { safeEqual, sha256Hex } from '../webhooks/inbound/verify-hmac.ts';
import { ingestEmailEvent } from './ingest-event.ts';
import { type InstantlyPayload, instantlyEvent } from './instantly/instantly-events.ts';
import { createOutreachServices, type OutreachServicesOptions } from './outreach-services.ts';
import { inboundEvent, type ParsedInbound, parseInboundForm } from './sendgrid/inbound-parse.ts';
import {
  SIGNATURE_HEADER,
  sendgridBatchId,
  sendgridEvents,
  TIMESTAMP_HEADER,
  verifySendGridSignature,
} from './sendgrid/sendgrid-events.ts';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The inbound sources of outreach events, for `sluice serve`'s `/v1/hooks/{source}`:
 * - `sendgrid`: the Event Webhook, ECDSA signature verified on the raw bytes
 *   (`SLUICE_HOOK_SENDGRID_PUBLIC_KEY`: the base64 public key SendGrid shows);
 * - `sendgrid-inbound`: Inbound Parse (replies), unsigned: `/v1/hooks/sendgrid-inbound/<token>`
 *   (`SLUICE_HOOK_SENDGRID_INBOUND_TOKEN`);
 * - `instantly`: Instantly's webhooks, unsigned: `/v1/hooks/instantly/<token>` (`SLUICE_HOOK_INSTANTLY_TOKEN`).
 */
function tokenCheck(name: string) {
  return (req: { token: string | undefined; url: string }, secret: string) => {
    const token = req.token ?? new URL(req.url).searchParams.get('token') ?? undefined;
    if (!token) return `missing URL token (POST /v1/hooks/${name}/<token>)`;
    return safeEqual(token, secret) ? undefined : 'the URL token does not match';
  };
}

export function outreachSources(env?: Env, options: OutreachServicesOptions = {}): InboundSource[] {
  const services = (db: Parameters<typeof createOutreachServices>[0]) =>
    createOutreachServices(db, env ?? process.env, options);
  return [
    {
      id: 'sendgrid',
      secretEnv: 'SLUICE_HOOK_SENDGRID_PUBLIC_KEY',
      verify(req, publicKey) {
        const sig = req.header(SIGNATURE_HEADER);
        const ts = req.header(TIMESTAMP_HEADER);
        if (!sig || !ts) return `missing ${SIGNATURE_HEADER} / ${TIMESTAMP_HEADER}`;
        return verifySendGridSignature(publicKey, req.raw, sig, ts)
          ? undefined
          : 'the ECDSA signature does not verify';
      },
      eventId: (req, body) => sendgridBatchId(body) ?? `sha256:${sha256Hex(req.raw)}`,
      async process(event, { db }) {
        const s = services(db);
        const counts: Record<string, number> = {};
        for (const e of sendgridEvents(event.body)) {
          const r = await ingestEmailEvent(s, e);
          const k = r.duplicate ? 'duplicate' : e.kind;
          counts[k] = (counts[k] ?? 0) + 1;
        }
        return counts;
      },
    },
    {
      id: 'sendgrid-inbound',
      secretEnv: 'SLUICE_HOOK_SENDGRID_INBOUND_TOKEN',
      verify: tokenCheck('sendgrid-inbound'),
      parse: (req) => parseInboundForm(req.raw, req.header('content-type') ?? ''),
      eventId(req, body) {
        const e = inboundEvent(body as ParsedInbound);
        return e?.key ?? `sha256:${sha256Hex(req.raw)}`;
      },
      async process(event, { db }) {
        const e = inboundEvent(event.body as ParsedInbound);
        if (!e) throw new CriticalError('an inbound message without a sender address');
        return ingestEmailEvent(services(db), { ...e, occurredAt: event.receivedAt });
      },
    },
    {
      id: 'instantly',
      secretEnv: 'SLUICE_HOOK_INSTANTLY_TOKEN',
      verify: tokenCheck('instantly'),
      eventId: (req, body) => instantlyEvent(body as InstantlyPayload)?.key ?? `sha256:${sha256Hex(req.raw)}`,
      async process(event, { db }) {
        const e = instantlyEvent(event.body as InstantlyPayload);
        if (!e) throw new CriticalError('an Instantly event without event_type or lead_email');
        return ingestEmailEvent(services(db), e);
      },
    },
  ];
}

export function registerOutreachSources(
  registry: InboundRegistry,
  env?: Env,
  options?: OutreachServicesOptions,
): InboundRegistry {
  for (const s of outreachSources(env, options)) registry.register(s);
  return registry;
}
