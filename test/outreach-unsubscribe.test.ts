import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createOutreachServices } from '../src/outreach/outreach-services.ts';
import { runDueSequenceSteps } from '../src/outreach/run-due-steps.ts';
import { startSequenceFor } from '../src/outreach/start-sequence.ts';
import { unsubscribeToken, verifyUnsubscribeToken } from '../src/outreach/unsubscribe-token.ts';
import { createSendGridFake, type SendGridFake } from '../src/sandbox/fakes/email/sendgrid.ts';
import { listen, type RunningServer } from '../src/sandbox/fakes/fake-kit.ts';
import { redactSecrets } from '../src/secrets/redact.ts';
import { describeEachBackend } from './helpers/backends.ts';
import { emptyOutreachDb, mondayNY, sequenceYaml, servicesFor } from './helpers/outreach-fixtures.ts';
import { openServerHarness } from './helpers/server-harness.ts';
import { seedGolf } from './helpers/sync-fixtures.ts';

describe('unsubscribe tokens', () => {
  const secret = 'k'.repeat(40);
  it('name contact and sequence, verify only with the same key, and expire', () => {
    const t = unsubscribeToken({ contactId: 42, sequence: 'golf-contacted' }, secret);
    expect(t).not.toContain('@');
    const ok = verifyUnsubscribeToken(t, secret);
    expect(ok).toEqual({
      ok: true,
      claim: expect.objectContaining({ contactId: 42, sequence: 'golf-contacted' }),
    });
    expect(verifyUnsubscribeToken(t, 'x'.repeat(40))).toMatchObject({ ok: false, reason: 'forged' });
    // another contact or sequence under the same MAC does not verify
    const [, seq, day, mac] = t.split('.');
    expect(verifyUnsubscribeToken(`43.${seq}.${day}.${mac}`, secret)).toMatchObject({ reason: 'forged' });
    const other = Buffer.from('other-seq').toString('base64url');
    expect(verifyUnsubscribeToken(`42.${other}.${day}.${mac}`, secret)).toMatchObject({ reason: 'forged' });
    expect(verifyUnsubscribeToken('42.abc', secret)).toMatchObject({ reason: 'malformed' });
    const old = unsubscribeToken(
      { contactId: 42, sequence: 'golf-contacted', issuedAt: new Date(Date.now() - 200 * 86_400_000) },
      secret,
    );
    expect(verifyUnsubscribeToken(old, secret)).toMatchObject({ ok: false, reason: 'expired' });
    expect(verifyUnsubscribeToken(old, secret, { maxAgeDays: 365 })).toMatchObject({ ok: true });
  });
});

describeEachBackend('unsubscribe link on sluice serve', (backend) => {
  let h: Awaited<ReturnType<typeof openServerHarness>>;
  let fake: SendGridFake;
  let server: RunningServer;
  beforeAll(async () => {
    h = await openServerHarness(backend);
    fake = createSendGridFake();
    server = await listen(fake.app);
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await h?.close();
  });
  beforeEach(async () => {
    await emptyOutreachDb(h.db);
    fake.messages.length = 0;
  });

  async function sendStepOne() {
    const seeded = await seedGolf(h.db, 2, 1);
    const env = {
      SENDGRID_API_KEY: fake.apiKey,
      SLUICE_SENDGRID_BASE_URL: server.url,
      SLUICE_SENDGRID_ACTIVITY_LAG_MS: '0',
    };
    const yaml = sequenceYaml();
    const services = servicesFor(h.db, env, {
      'test-seq': yaml,
      other: yaml.replace('name: test-seq', 'name: other'),
    });
    await startSequenceFor(services, seeded.contacts, 'test-seq', mondayNY(8));
    await startSequenceFor(services, seeded.contacts, 'other', mondayNY(8));
    expect((await runDueSequenceSteps(services, mondayNY(10))).sent).toBe(4);
    const m = fake.messages.find((x) => x.sendKey?.startsWith('test-seq:'))!;
    const url = /<([^>]+)>/.exec(m.headers['List-Unsubscribe'] ?? '')![1]!;
    expect(m.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    const token = url.split('/').at(-1)!;
    const contactId = Number(m.sendKey!.split(':')[1]);
    return { token, contactId, email: m.to, contacts: seeded.contacts };
  }

  const state = async () => ({
    suppressed: (
      await h.db.query<{ email: string }>('SELECT email FROM outreach_suppressions ORDER BY email')
    ).rows,
    active: (
      await h.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM outreach_enrollments WHERE state = 'active'`,
      )
    ).rows[0]!.n,
    events: (await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outreach_events')).rows[0]!.n,
  });

  it('GET shows a confirmation and changes nothing; POST (one-click) suppresses and stops every sequence; again is a no-op', async () => {
    const { token, contactId, email } = await sendStepOne();
    const before = await state();
    expect(before.active).toBe(4);
    const get = await h.app.request(`/unsubscribe/${token}`);
    expect(get.status).toBe(200);
    const html = await get.text();
    expect(html).toContain('<form method="post">');
    expect(html).not.toContain(email); // masked
    expect(await state()).toEqual(before);

    const post = await h.app.request(`/unsubscribe/${token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(post.status).toBe(200);
    expect(await post.text()).toContain('You are unsubscribed');
    const after = await state();
    expect(after.suppressed).toEqual([{ email: email.toLowerCase() }]);
    // both sequences of that contact stopped (the token named one); the other contact's two go on
    expect(after.active).toBe(2);
    const stopped = await h.db.query<{ sequence: string; stop_reason: string }>(
      `SELECT sequence, stop_reason FROM outreach_enrollments WHERE contact_id = $1 ORDER BY sequence`,
      [contactId],
    );
    expect(stopped.rows).toEqual([
      { sequence: 'other', stop_reason: 'unsubscribe (sluice)' },
      { sequence: 'test-seq', stop_reason: 'unsubscribe (sluice)' },
    ]);
    const cs = await h.db.query('SELECT state FROM outreach_contact_state WHERE contact_id = $1', [
      contactId,
    ]);
    expect(cs.rows).toEqual([{ state: 'unsubscribed' }]);

    const again = await h.app.request(`/unsubscribe/${token}`, { method: 'POST' });
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('already unsubscribed');
    expect(await state()).toEqual(after);
    expect((await h.app.request(`/unsubscribe/${token}`)).status).toBe(200);
  }, 60_000);

  it('a forged, malformed or expired token gets a clear 4xx and changes nothing', async () => {
    const { token, contactId } = await sendStepOne();
    const before = await state();
    const [id, seq, day, mac] = token.split('.');
    const flipped = `${mac!.slice(0, -1)}${mac!.endsWith('A') ? 'B' : 'A'}`;
    const secret = await createOutreachServices(h.db, {}).secret();
    const expired = unsubscribeToken(
      { contactId, sequence: 'test-seq', issuedAt: new Date(Date.now() - 400 * 86_400_000) },
      secret,
    );
    const cases: [string, number, RegExp][] = [
      [`${id}.${seq}.${day}.${flipped}`, 403, /does not verify/],
      [`${Number(id) + 1}.${seq}.${day}.${mac}`, 403, /does not verify/],
      ['12345', 400, /not an unsubscribe link/],
      [expired, 410, /expired/],
    ];
    for (const [t, status, message] of cases)
      for (const method of ['GET', 'POST']) {
        const res = await h.app.request(`/unsubscribe/${encodeURIComponent(t)}`, { method });
        expect(res.status, `${method} ${t}`).toBe(status);
        expect(await res.text()).toMatch(message);
      }
    // a good token for a contact that no longer exists
    await h.db.query('DELETE FROM contacts WHERE id = $1', [contactId]);
    const gone = await h.app.request(`/unsubscribe/${token}`, { method: 'POST' });
    expect(gone.status).toBe(404);
    const after = await state();
    expect(after.suppressed).toEqual(before.suppressed);
    expect(after.events).toBe(before.events);
  }, 60_000);

  it('with no SLUICE_OUTREACH_SECRET the key is generated once per database, shared, and redacted', async () => {
    const a = await createOutreachServices(h.db, {}).secret();
    const b = await createOutreachServices(h.db, {}).secret();
    expect(a).toBe(b);
    expect(a.length).toBeGreaterThanOrEqual(40);
    expect(a).not.toBe('sluice-outreach-unsubscribe');
    // what another process on the database reads (this process caches it)
    const rows = await h.db.query<{ value: string }>('SELECT value FROM instance_secrets');
    expect(rows.rows).toEqual([{ value: a }]);
    expect(redactSecrets(`key ${a}`)).toBe('key [redacted]');
    // a set variable wins; a short one is refused by name
    const env = { SLUICE_OUTREACH_SECRET: 'z'.repeat(48) };
    expect(await createOutreachServices(h.db, env).secret()).toBe('z'.repeat(48));
    await expect(createOutreachServices(h.db, { SLUICE_OUTREACH_SECRET: 'short' }).secret()).rejects.toThrow(
      /SLUICE_OUTREACH_SECRET is 5 characters long/,
    );
  });
});
