import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Unsubscribe tokens (docs/outreach.md "Unsubscribe"): `<contact>.<sequence>.<issued>.<mac>`, the MAC an
 * HMAC-SHA256 of contact, sequence and issue day under the outreach secret (outreach-secret.ts),
 * compared in constant time. The email address is not in the link. A token is good for
 * `UNSUBSCRIBE_TOKEN_DAYS` after the message was rendered (CAN-SPAM asks for at least 30).
 */
export const UNSUBSCRIBE_TOKEN_DAYS = 180;
const DAY_MS = 86_400_000;
const MAC_CHARS = 22; // 132 bits of the base64url digest

export interface UnsubscribeClaim {
  contactId: number;
  sequence: string;
  /** Whole days since the epoch (UTC) when the message was rendered. */
  issuedDay: number;
}

export type TokenCheck =
  | { ok: true; claim: UnsubscribeClaim }
  | { ok: false; reason: 'malformed' | 'forged' | 'expired'; message: string };

function mac(claim: UnsubscribeClaim, secret: string): string {
  return createHmac('sha256', secret)
    .update(`unsubscribe|${claim.contactId}|${claim.sequence}|${claim.issuedDay}`)
    .digest('base64url')
    .slice(0, MAC_CHARS);
}

export function unsubscribeToken(
  o: { contactId: number; sequence: string; issuedAt?: Date },
  secret: string,
): string {
  const claim = {
    contactId: o.contactId,
    sequence: o.sequence,
    issuedDay: Math.floor((o.issuedAt ?? new Date()).getTime() / DAY_MS),
  };
  const seq = Buffer.from(claim.sequence, 'utf8').toString('base64url');
  return `${claim.contactId}.${seq}.${claim.issuedDay.toString(36)}.${mac(claim, secret)}`;
}

export function verifyUnsubscribeToken(
  token: string,
  secret: string,
  options: { now?: Date; maxAgeDays?: number } = {},
): TokenCheck {
  const parts = token.split('.');
  const [id, seq, day, given] = parts;
  const contactId = Number(id);
  const issuedDay = Number.parseInt(day ?? '', 36);
  if (
    parts.length !== 4 ||
    !/^[1-9]\d{0,15}$/.test(id ?? '') ||
    !Number.isSafeInteger(contactId) ||
    !/^[A-Za-z0-9_-]+$/.test(seq ?? '') ||
    !/^[0-9a-z]{1,8}$/.test(day ?? '') ||
    given?.length !== MAC_CHARS
  )
    return { ok: false, reason: 'malformed', message: 'this is not an unsubscribe link Sluice made' };
  const claim = { contactId, sequence: Buffer.from(seq!, 'base64url').toString('utf8'), issuedDay };
  const want = Buffer.from(mac(claim, secret));
  const got = Buffer.from(given);
  if (got.length !== want.length || !timingSafeEqual(got, want))
    return { ok: false, reason: 'forged', message: 'this unsubscribe link does not verify' };
  const today = Math.floor((options.now ?? new Date()).getTime() / DAY_MS);
  const maxAge = options.maxAgeDays ?? UNSUBSCRIBE_TOKEN_DAYS;
  if (today - issuedDay > maxAge || issuedDay - today > 1)
    return {
      ok: false,
      reason: 'expired',
      message: `this unsubscribe link expired (links work for ${maxAge} days after the message)`,
    };
  return { ok: true, claim };
}
