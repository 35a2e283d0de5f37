import { createHash } from 'node:crypto';
import type { EmailEvent } from '../email-provider.ts';

/**
 * Replies to SendGrid-sent mail arrive through SendGrid's Inbound Parse webhook: a
 * `multipart/form-data` POST per received message with `from`, `to`, `subject`, `text`, `headers`
 * (the raw header block) and `envelope` (JSON). It is unsigned: the URL carries a secret token.
 * Auto-replies are recognised by their headers (RFC 3834 `Auto-Submitted`, `X-Autoreply`,
 * `Precedence: auto_reply`), not by guessing from the text.
 */
export interface ParsedInbound {
  from: string;
  to: string;
  subject: string;
  text: string;
  headers: string;
}

export async function parseInboundForm(raw: Buffer, contentType: string): Promise<ParsedInbound> {
  const form = await new Response(new Uint8Array(raw), {
    headers: { 'content-type': contentType },
  }).formData();
  const get = (k: string) => {
    const v = form.get(k);
    return typeof v === 'string' ? v : '';
  };
  return {
    from: get('from'),
    to: get('to'),
    subject: get('subject'),
    text: get('text'),
    headers: get('headers'),
  };
}

const ADDRESS = /<([^>]+)>/;

export function inboundEvent(p: ParsedInbound): EmailEvent | undefined {
  const from = (ADDRESS.exec(p.from)?.[1] ?? p.from).trim().toLowerCase();
  if (!from.includes('@')) return undefined;
  const messageId = /^message-id:\s*(.+)$/im.exec(p.headers)?.[1]?.trim();
  const auto =
    /^auto-submitted:\s*auto-(replied|generated)/im.test(p.headers) ||
    /^x-autoreply:/im.test(p.headers) ||
    /^precedence:\s*auto_reply/im.test(p.headers);
  return {
    provider: 'sendgrid',
    key: `inbound:${messageId ?? createHash('sha256').update(`${from}|${p.subject}|${p.text}`).digest('hex').slice(0, 32)}`,
    kind: auto ? 'auto_reply' : 'reply',
    email: from,
    occurredAt: new Date(),
    subject: p.subject,
    text: stripQuoted(p.text),
    providerKind: 'inbound_parse',
  };
}

/** The reply without the quoted original below it ("On … wrote:", "> " lines). */
function stripQuoted(text: string): string {
  const lines = text.split(/\r?\n/);
  const cut = lines.findIndex((l) => /^On .+wrote:\s*$/.test(l) || l.startsWith('>'));
  return (cut >= 0 ? lines.slice(0, cut) : lines).join('\n').trim();
}
