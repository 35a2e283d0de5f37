import { createPublicKey, createVerify, type KeyObject, verify } from 'node:crypto';
import type { InboundRequest, InboundSource } from './inbound-registry.ts';
import { hmacBase64, hmacHex, safeEqual, sha256Hex } from './verify-hmac.ts';

/**
 * The signed inbound sources whose processing belongs to other layers (CRM sync registers its own
 * processors under these ids). By default their events are verified, stored and deduplicated, and
 * processing only records that nothing else handles them.
 */
const storeOnly: InboundSource['process'] = async () => ({
  stored: true,
  note: 'no processor registered for this source',
});

/** ClickUp: `X-Signature` = hex HMAC-SHA256 of the raw body with the webhook's secret. */
export const clickupSource: InboundSource = {
  id: 'clickup',
  secretEnv: 'SLUICE_HOOK_CLICKUP_SECRET',
  verify(req, secret) {
    const sig = req.header('x-signature');
    if (!sig) return 'missing X-Signature header';
    return safeEqual(sig.toLowerCase(), hmacHex(secret, req.raw))
      ? undefined
      : 'X-Signature does not match the body';
  },
  eventId(req, body) {
    const b = body as {
      history_items?: { id?: unknown }[];
      webhook_id?: unknown;
      event?: unknown;
      task_id?: unknown;
    };
    const item = b?.history_items?.[0]?.id;
    return item !== undefined ? `history:${String(item)}` : `sha256:${sha256Hex(req.raw)}`;
  },
  process: storeOnly,
};

/** HubSpot signatures v3 are valid for 5 minutes. */
const HUBSPOT_MAX_AGE_MS = 5 * 60_000;

/**
 * HubSpot v3: `X-HubSpot-Signature-v3` = base64 HMAC-SHA256 (app client secret) of method + URI + raw
 * body + `X-HubSpot-Request-Timestamp`; refused when the timestamp is over 5 minutes old. The URI is
 * the one HubSpot called: behind a proxy set SLUICE_PUBLIC_URL.
 */
export const hubspotSource: InboundSource = {
  id: 'hubspot',
  secretEnv: 'SLUICE_HOOK_HUBSPOT_SECRET',
  verify(req, secret) {
    const sig = req.header('x-hubspot-signature-v3');
    const ts = req.header('x-hubspot-request-timestamp');
    if (!sig || !ts) return 'missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp';
    if (!(Math.abs(Date.now() - Number(ts)) <= HUBSPOT_MAX_AGE_MS))
      return 'X-HubSpot-Request-Timestamp is more than 5 minutes off';
    const expected = hmacBase64(
      secret,
      Buffer.concat([Buffer.from(`${req.method}${req.url}`), req.raw, Buffer.from(ts)]),
    );
    return safeEqual(sig, expected) ? undefined : 'X-HubSpot-Signature-v3 does not match';
  },
  eventId(req, body) {
    const ids = Array.isArray(body)
      ? body.map((e) => (e as { eventId?: unknown }).eventId).filter((x) => x !== undefined)
      : [];
    return ids.length > 0
      ? `events:${sha256Hex(ids.map(String).sort().join(','))}`
      : `sha256:${sha256Hex(req.raw)}`;
  },
  process: storeOnly,
};

/** A public key from the environment: PEM (newlines may be written `\n`) or base64 DER (SPKI). */
function publicKeyOf(text: string): KeyObject | undefined {
  try {
    const t = text.trim();
    return t.includes('-----BEGIN')
      ? createPublicKey(t.replace(/\\n/g, '\n'))
      : createPublicKey({ key: Buffer.from(t, 'base64'), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

/**
 * GoHighLevel (HighLevel Marketplace app webhooks): signed by HighLevel's private key, verified with
 * the public key it publishes (SLUICE_HOOK_GOHIGHLEVEL_PUBLIC_KEY, PEM or base64 DER). An Ed25519 key
 * checks `X-GHL-Signature` (base64 over the raw body, the only scheme since 2026-07-01); an RSA key
 * checks the legacy `X-WH-Signature` (base64 RSA-SHA256). Deduplicated on the body's `webhookId`.
 */
export const gohighlevelSource: InboundSource = {
  id: 'gohighlevel',
  secretEnv: 'SLUICE_HOOK_GOHIGHLEVEL_PUBLIC_KEY',
  verify(req, publicKey) {
    const key = publicKeyOf(publicKey);
    if (!key) return 'SLUICE_HOOK_GOHIGHLEVEL_PUBLIC_KEY is not a public key (PEM or base64 DER)';
    if (key.asymmetricKeyType === 'ed25519') {
      const sig = req.header('x-ghl-signature');
      if (!sig) return 'missing X-GHL-Signature header';
      return verify(null, req.raw, key, Buffer.from(sig, 'base64'))
        ? undefined
        : 'X-GHL-Signature does not match the body';
    }
    if (key.asymmetricKeyType === 'rsa') {
      const sig = req.header('x-wh-signature');
      if (!sig) return 'missing X-WH-Signature header (the RSA key checks the legacy signature)';
      return createVerify('sha256').update(req.raw).verify(key, sig, 'base64')
        ? undefined
        : 'X-WH-Signature does not match the body';
    }
    return `SLUICE_HOOK_GOHIGHLEVEL_PUBLIC_KEY is a ${key.asymmetricKeyType} key; HighLevel signs with Ed25519 (or RSA)`;
  },
  eventId(req, body) {
    const id = (body as { webhookId?: unknown } | null)?.webhookId;
    return typeof id === 'string' && id ? `webhook:${id.slice(0, 200)}` : `sha256:${sha256Hex(req.raw)}`;
  },
  process: storeOnly,
};

/**
 * Any other system that can sign: `X-Sluice-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with
 * SLUICE_HOOK_GENERIC_SECRET, `X-Event-Id` (else the body's hash) for dedupe. The body
 * `{"type": "account.upsert" | "contact.upsert", "data": {...} | [...]}` creates or merges records
 * (source `webhook`); see webhook-records.ts.
 */
export function genericHmacVerify(req: InboundRequest, secret: string): string | undefined {
  const sig = req.header('x-sluice-signature');
  if (!sig) return 'missing X-Sluice-Signature header (sha256=<hex HMAC-SHA256 of the body>)';
  const hex = sig.startsWith('sha256=') ? sig.slice(7) : sig;
  return safeEqual(hex.toLowerCase(), hmacHex(secret, req.raw))
    ? undefined
    : 'X-Sluice-Signature does not match the body';
}

export function genericEventId(req: InboundRequest): string {
  const id = req.header('x-event-id');
  return id ? `id:${id.slice(0, 200)}` : `sha256:${sha256Hex(req.raw)}`;
}
