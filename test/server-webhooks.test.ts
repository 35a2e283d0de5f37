import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeliveryWorker } from '../src/webhooks/delivery-worker.ts';
import { defaultInboundRegistry } from '../src/webhooks/inbound/default-sources.ts';
import { startHookProcessor } from '../src/webhooks/inbound/hook-events.ts';
import {
  KEEP_PER_SOURCE,
  listHookRejections,
  recordingRequest,
  reverifyHookRejection,
  storeHookRejection,
} from '../src/webhooks/inbound/hook-rejections.ts';
import { retryDelayMs } from '../src/webhooks/retry-schedule.ts';
import { CALLBACK_LIMITS } from '../src/webhooks/send-webhook.ts';
import { newEndpointSecret, signatureProblem } from '../src/webhooks/signature.ts';
import {
  enqueueDelivery,
  ensureEndpoint,
  releaseDeliveryClaims,
  showDelivery,
} from '../src/webhooks/webhook-store.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { startReceiver } from './helpers/callback-receiver.ts';
import { HOOK_ENV, openServerHarness, type ServerHarness } from './helpers/server-harness.ts';

async function until<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describeEachBackend('webhooks', (backend) => {
  let h: ServerHarness;
  beforeAll(async () => {
    h = await openServerHarness(backend);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('signs deliveries per Standard Webhooks, records every attempt; 3xx is a failure that is retried; 410 disables the endpoint', async () => {
    const ok = await startReceiver([302, 200]);
    const gone = await startReceiver([410]);
    const a = await ensureEndpoint(h.db, ok.url);
    const b = await ensureEndpoint(h.db, gone.url);
    ok.setSecret(a.secret!);
    gone.setSecret(b.secret!);
    const d1 = await h.db.transaction((tx) =>
      enqueueDelivery(tx, {
        endpointId: a.endpoint.id,
        eventType: 'job.completed',
        payload: { hello: 'world' },
      }),
    );
    const d2 = await h.db.transaction((tx) =>
      enqueueDelivery(tx, { endpointId: b.endpoint.id, eventType: 'job.completed', payload: { n: 1 } }),
    );
    const worker = startDeliveryWorker({ db: h.db, policy: { allowLoopback: true }, intervalMs: 100 });
    try {
      await ok.waitFor(1);
      await gone.waitFor(1);
      const first = await until(async () => {
        const d = await showDelivery(h.db, d1.id);
        return d && d.attemptLog.length === 1 && d;
      });
      expect(first).toMatchObject({ state: 'pending', lastStatus: 302 });
      expect(first.attemptLog[0]).toMatchObject({ outcome: 'failed', status: 302 });
      // the 5 s retry (±10 %) arrives with the same webhook-id and a valid signature
      await ok.waitFor(2, 30_000);
      expect(ok.received[1]!.verified).toEqual({ hello: 'world' });
      expect(ok.received[1]!.headers['webhook-id']).toBe(ok.received[0]!.headers['webhook-id']);
      const done = await until(async () => {
        const d = await showDelivery(h.db, d1.id);
        return d?.state === 'succeeded' && d;
      });
      expect(done.attemptLog.map((x) => x.outcome)).toEqual(['failed', 'succeeded']);
      const g = await until(async () => {
        const d = await showDelivery(h.db, d2.id);
        return d?.state === 'failed' && d;
      });
      expect(g.attemptLog[0]).toMatchObject({ outcome: 'gone', status: 410 });
      expect(gone.received[0]!.verified).toEqual({ n: 1 });
      const ep = await h.db.query<{ disabled_at: Date | null }>(
        'SELECT disabled_at FROM webhook_endpoints WHERE id = $1',
        [b.endpoint.id],
      );
      expect(ep.rows[0]!.disabled_at).not.toBeNull();
    } finally {
      await worker.stop();
      await ok.close();
      await gone.close();
    }
    // the schedule lasts more than a day
    let total = 0;
    for (let attempt = 1; retryDelayMs(attempt, () => 0.5) !== undefined; attempt++)
      total += retryDelayMs(attempt, () => 0.5)!;
    expect(total).toBeGreaterThan(24 * 3600_000);
  });

  it('a claim whose sender died is left alone while its lease holds and sent (same webhook-id) once it lapses, or at once when released', async () => {
    const rx = await startReceiver([200, 200]);
    const ep = await ensureEndpoint(h.db, rx.url);
    rx.setSecret(ep.secret!);
    // two deliveries claimed by a sender that died mid-attempt: one lease still valid, one lapsed
    const live = await h.db.transaction((tx) =>
      enqueueDelivery(tx, { endpointId: ep.endpoint.id, eventType: 'job.completed', payload: { k: 'live' } }),
    );
    const lapsed = await h.db.transaction((tx) =>
      enqueueDelivery(tx, {
        endpointId: ep.endpoint.id,
        eventType: 'job.completed',
        payload: { k: 'lapsed' },
      }),
    );
    await h.db.query(
      `UPDATE webhook_deliveries SET attempts = 1, locked_until = now() + CASE WHEN id = $1 THEN interval '1 hour' ELSE interval '-1 second' END
        WHERE id IN ($1, $2)`,
      [live.id, lapsed.id],
    );
    const worker = startDeliveryWorker({ db: h.db, policy: { allowLoopback: true }, intervalMs: 100 });
    try {
      const [first] = await rx.waitFor(1);
      expect(first!.verified).toEqual({ k: 'lapsed' });
      expect(first!.headers['webhook-id']).toBe(lapsed.messageId);
      await new Promise((r) => setTimeout(r, 600));
      expect(rx.received).toHaveLength(1);
      expect((await showDelivery(h.db, live.id))?.state).toBe('pending');
      // what `serve` does at start on PGlite, where no other process can hold a claim
      expect(await releaseDeliveryClaims(h.db)).toBe(1);
      const [, second] = await rx.waitFor(2);
      expect(second!.headers['webhook-id']).toBe(live.messageId);
      const done = await until(async () => {
        const d = await showDelivery(h.db, live.id);
        return d?.state === 'succeeded' && d;
      });
      expect(done.attempts).toBe(2);
    } finally {
      await worker.stop();
      await rx.close();
    }
  });

  it('sends through the safe outbound edge: internal addresses refused at once, loopback only when opted in, answers capped', async () => {
    const strict = startDeliveryWorker({ db: h.db, policy: {}, intervalMs: 100 });
    const big = await startReceiver([200], { body: () => 'x'.repeat(CALLBACK_LIMITS.maxBytes + 1) });
    try {
      const enqueue = async (url: string) => {
        const e = await ensureEndpoint(h.db, url);
        return h.db.transaction((tx) =>
          enqueueDelivery(tx, { endpointId: e.endpoint.id, eventType: 'x', payload: {} }),
        );
      };
      const finished = (id: number) =>
        until(async () => {
          const s = await showDelivery(h.db, id);
          return s && s.state !== 'pending' && s;
        });
      // loopback without the opt-in, a private network, cloud metadata: refused, not retried
      for (const url of ['http://127.0.0.1:9/private', 'http://10.1.2.3/hook', 'http://169.254.169.254/x']) {
        const row = await finished((await enqueue(url)).id);
        expect(row).toMatchObject({ state: 'failed', attempts: 1 });
        expect(row.attemptLog[0]!.error).toContain('does not send requests to internal addresses');
      }
      await strict.stop();
      // the sandbox/test opt-in admits loopback, and nothing else
      const loose = startDeliveryWorker({ db: h.db, policy: { allowLoopback: true }, intervalMs: 100 });
      try {
        const lan = await finished((await enqueue('http://192.168.1.20/hook')).id);
        expect(lan.attemptLog[0]!.error).toContain('internal addresses');
        // an answer over the size cap is not read: the attempt fails (and is not retried)
        const capped = await finished((await enqueue(big.url)).id);
        expect(big.received).toHaveLength(1);
        expect(capped).toMatchObject({ state: 'failed', attempts: 1 });
        expect(capped.attemptLog[0]!.error).toContain('cap');
      } finally {
        await loose.stop();
      }
    } finally {
      await strict.stop();
      await big.close();
    }
  });

  it('inbound: checks signatures on the raw bytes, stores and dedupes events, answers 202; RB2B creates company and person with source rb2b', async () => {
    const rb2b = {
      'LinkedIn URL': 'https://www.linkedin.com/in/retentionadam/',
      'First Name': 'Adam',
      'Last Name': 'Robinson',
      Title: 'CEO @ Retention.com',
      'Company Name': 'Retention.com',
      'Business Email': 'adam@retention.com',
      Website: 'https://retention.com',
      Industry: 'Internet Technology & Services',
      'Employee Count': '1-10',
      City: 'Austin',
      State: 'Texas',
      Zipcode: '73301',
      'Seen At': '2024-01-01T12:34:56.00+00:00',
      'Captured URL': 'https://rb2b.com/pricing',
      Tags: 'Hot Pages, Hot Leads',
    };
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      h.app.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    const raw = JSON.stringify(rb2b);
    expect((await post('/v1/hooks/rb2b/wrong', raw)).status).toBe(401);
    expect((await post('/v1/hooks/nosuch/x', raw)).status).toBe(404);
    const first = await post(`/v1/hooks/rb2b/${HOOK_ENV.SLUICE_HOOK_RB2B_TOKEN}`, raw);
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({ duplicate: false });
    expect(
      await (await post(`/v1/hooks/rb2b?token=${HOOK_ENV.SLUICE_HOOK_RB2B_TOKEN}`, raw)).json(),
    ).toMatchObject({ duplicate: true });

    // ClickUp: hex HMAC of the exact bytes; re-serialised JSON (other spacing) would not match
    const clickup = '{"event":"taskUpdated",  "task_id":"t1","history_items":[{"id":"h-1"}]}';
    const sig = createHmac('sha256', HOOK_ENV.SLUICE_HOOK_CLICKUP_SECRET).update(clickup).digest('hex');
    expect(
      (await post('/v1/hooks/clickup', JSON.stringify(JSON.parse(clickup)), { 'x-signature': sig })).status,
    ).toBe(401);
    expect((await post('/v1/hooks/clickup', clickup, { 'x-signature': sig })).status).toBe(202);
    // HubSpot v3: method + URI + body + timestamp
    const hubspot = '[{"eventId":101,"subscriptionType":"contact.propertyChange"}]';
    const ts = String(Date.now());
    const uri = 'http://localhost/v1/hooks/hubspot';
    const v3 = createHmac('sha256', HOOK_ENV.SLUICE_HOOK_HUBSPOT_SECRET)
      .update(`POST${uri}${hubspot}${ts}`)
      .digest('base64');
    const hs = await h.app.request(uri, {
      method: 'POST',
      headers: { 'x-hubspot-signature-v3': v3, 'x-hubspot-request-timestamp': ts },
      body: hubspot,
    });
    expect(hs.status).toBe(202);
    const stale = String(Date.now() - 10 * 60_000);
    const old = createHmac('sha256', HOOK_ENV.SLUICE_HOOK_HUBSPOT_SECRET)
      .update(`POST${uri}${hubspot}${stale}`)
      .digest('base64');
    expect(
      (
        await h.app.request(uri, {
          method: 'POST',
          headers: { 'x-hubspot-signature-v3': old, 'x-hubspot-request-timestamp': stale },
          body: hubspot,
        })
      ).status,
    ).toBe(401);

    const processor = startHookProcessor(h.db, defaultInboundRegistry(), { intervalMs: 100 });
    try {
      await until(async () => {
        const r = await h.db.query("SELECT 1 FROM hook_events WHERE state = 'pending'");
        return r.rows.length === 0;
      });
    } finally {
      await processor.stop();
    }
    const events = await h.db.query<{ source: string; state: string }>(
      'SELECT source, state FROM hook_events ORDER BY id',
    );
    expect(events.rows).toEqual([
      { source: 'rb2b', state: 'processed' },
      { source: 'clickup', state: 'processed' },
      { source: 'hubspot', state: 'processed' },
    ]);
    const person = await h.db.query<{ email: string; account: string; src: string }>(
      `SELECT c.email, a.name AS account, c.attributes ->> 'source' AS src FROM contacts c JOIN accounts a ON a.id = c.account_id WHERE c.email = 'adam@retention.com'`,
    );
    expect(person.rows).toEqual([{ email: 'adam@retention.com', account: 'Retention.com', src: 'rb2b' }]);
    const sources = await h.db.query<{ source: string }>(
      `SELECT DISTINCT source FROM field_values WHERE entity_type = 'contact' AND entity_id = (SELECT id FROM contacts WHERE email = 'adam@retention.com')`,
    );
    expect(sources.rows).toEqual([{ source: 'rb2b' }]);
  });

  it('inbound: a refused request is kept apart (no token, not processed, no dedupe key taken); reverify after fixing the secret stores it', async () => {
    const before = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM hook_events');
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      h.app.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    // ClickUp signs with a secret the server was not given (the user pasted an old one)
    const realSecret = 'the-secret-clickup-really-uses';
    const clickup = '{"event":"taskUpdated", "task_id":"t9","history_items":[{"id":"h-9"}]}';
    const sig = createHmac('sha256', realSecret).update(clickup).digest('hex');
    const refused = await post('/v1/hooks/clickup', clickup, { 'x-signature': sig });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    // an RB2B call with an old token, in the path
    const visit = JSON.stringify({ 'Company Name': 'Old Token Golf', 'Seen At': '2026-01-02T00:00:00Z' });
    expect((await post('/v1/hooks/rb2b/old-token-123', visit)).status).toBe(401);

    const [rb, cu] = await listHookRejections(h.db, { limit: 2 });
    expect(cu).toMatchObject({
      source: 'clickup',
      reason: 'X-Signature does not match the body',
      headers: { 'x-signature': sig, 'content-type': 'application/json' },
      bodyBytes: Buffer.byteLength(clickup),
      acceptedEventId: null,
    });
    expect(cu!.preview).toBe(clickup);
    expect(rb).toMatchObject({ source: 'rb2b', reason: 'wrong token' });
    expect(rb!.url).toBe('http://localhost/v1/hooks/rb2b/<token>');
    // the token sent is not stored anywhere in the row
    const row = await h.db.query<{ t: string }>(
      'SELECT row_to_json(r)::text AS t FROM hook_rejections r WHERE id = $1',
      [rb!.id],
    );
    expect(row.rows[0]!.t).not.toContain('old-token-123');
    // nothing was stored as an event, so the real event (same history id) is not mistaken for a duplicate
    expect((await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM hook_events')).rows).toEqual(
      before.rows,
    );
    expect(await (await h.call('GET', '/metrics')).text()).toMatch(
      /sluice_hook_rejections\{source="clickup"\} [1-9]/,
    );

    // reverify with the secret still wrong: still refused; with the right one: stored as an event
    const registry = defaultInboundRegistry();
    expect(await reverifyHookRejection(h.db, registry, HOOK_ENV, cu!.id)).toEqual({
      outcome: 'refused',
      reason: 'X-Signature does not match the body',
    });
    const fixed = {
      ...HOOK_ENV,
      SLUICE_HOOK_CLICKUP_SECRET: realSecret,
      SLUICE_HOOK_RB2B_TOKEN: 'old-token-123',
    };
    expect(await reverifyHookRejection(h.db, registry, fixed, cu!.id)).toEqual({
      outcome: 'accepted',
      eventId: 'history:h-9',
      duplicate: false,
    });
    expect(await reverifyHookRejection(h.db, registry, fixed, rb!.id)).toMatchObject({ outcome: 'accepted' });
    expect(await reverifyHookRejection(h.db, registry, fixed, cu!.id)).toMatchObject({ duplicate: true });
    expect(await reverifyHookRejection(h.db, registry, fixed, 999_999)).toBeUndefined();
    const events = await h.db.query<{ source: string; event_id: string; state: string; body: string }>(
      "SELECT source, event_id, state, body FROM hook_events WHERE source IN ('clickup', 'rb2b') ORDER BY id DESC LIMIT 2",
    );
    expect(events.rows).toEqual([
      expect.objectContaining({ source: 'rb2b', state: 'pending', body: visit }),
      { source: 'clickup', event_id: 'history:h-9', state: 'pending', body: clickup },
    ]);
    const listed = await listHookRejections(h.db, { source: 'clickup', limit: 1 });
    expect(listed[0]!.acceptedEventId).not.toBeNull();

    // a flood of forged requests keeps only the newest KEEP_PER_SOURCE per source
    const forged = recordingRequest({
      method: 'POST',
      url: 'http://localhost/v1/hooks/generic',
      raw: Buffer.from('{}'),
      header: () => undefined,
      token: undefined,
    });
    for (let i = 0; i < KEEP_PER_SOURCE + 60; i++)
      await storeHookRejection(h.db, 'generic', 'forged', forged);
    const kept = await h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM hook_rejections WHERE source = 'generic'",
    );
    expect(kept.rows[0]!.n).toBeGreaterThanOrEqual(KEEP_PER_SOURCE);
    expect(kept.rows[0]!.n).toBeLessThan(KEEP_PER_SOURCE + 50);
    // pruning is per source: the ClickUp one is still there
    expect((await listHookRejections(h.db, { source: 'clickup' })).map((r) => r.id)).toContain(cu!.id);
  });
});

describe('signatureProblem (the check of `sluice webhooks receive`)', () => {
  it('accepts what the standardwebhooks package signs, refuses tampering, other secrets and stale timestamps', () => {
    const secret = newEndpointSecret();
    const body = '{"type":"job.completed","contacts":[]}';
    const at = new Date();
    const headers = {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign('msg_1', at, body),
    };
    expect(signatureProblem(secret, headers, body)).toBeUndefined();
    expect(signatureProblem(secret, headers, body.replace('[]', '[1]'))).toMatch(/no v1 signature/);
    expect(signatureProblem(newEndpointSecret(), headers, body)).toMatch(/no v1 signature/);
    expect(signatureProblem(secret, headers, body, 300, Math.floor(at.getTime() / 1000) + 301)).toMatch(
      /more than 300 s/,
    );
    expect(signatureProblem(secret, { 'webhook-id': 'msg_1' }, body)).toMatch(/missing/);
  });
});
