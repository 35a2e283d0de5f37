import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signing (standardwebhooks.com): `webhook-signature: v1,<base64 HMAC-SHA256 of
 * "<webhook-id>.<webhook-timestamp>.<body>">` with the endpoint's secret `whsec_<base64 key>`.
 * Receivers verify with any Standard Webhooks library (our tests use the `standardwebhooks` package).
 */
export function newEndpointSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export function signatureHeaders(
  secret: string,
  messageId: string,
  body: string,
  timestampSeconds = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  const signature = createHmac('sha256', key)
    .update(`${messageId}.${timestampSeconds}.${body}`)
    .digest('base64');
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${signature}`,
  };
}

/**
 * Checks a Standard Webhooks signature (for `sluice webhooks receive`, a local debugging receiver;
 * production receivers use a Standard Webhooks library). Undefined when valid, else why not: a header
 * missing, a timestamp more than `toleranceSeconds` away (replays), or no `v1,` signature matching.
 */
export function signatureProblem(
  secret: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: string,
  toleranceSeconds = 300,
  nowSeconds = Math.floor(Date.now() / 1000),
): string | undefined {
  const one = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = one('webhook-id');
  const ts = one('webhook-timestamp');
  const sigs = one('webhook-signature');
  if (!id || !ts || !sigs) return 'webhook-id, webhook-timestamp or webhook-signature header missing';
  const t = Number(ts);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds)
    return `webhook-timestamp ${ts} is more than ${toleranceSeconds} s away from now`;
  const expected = Buffer.from(
    signatureHeaders(secret, id, body, t)['webhook-signature']!.slice(3),
    'base64',
  );
  for (const part of sigs.split(' ')) {
    const [version, value] = part.split(',', 2);
    if (version !== 'v1' || !value) continue;
    const given = Buffer.from(value, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return undefined;
  }
  return 'no v1 signature matches this secret';
}
