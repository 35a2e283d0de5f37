import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend } from './helpers/backends.ts';
import { openServerHarness, type ServerHarness } from './helpers/server-harness.ts';

describeEachBackend('HTTP API in-process', (backend) => {
  let h: ServerHarness;
  // opening the database and migrating it took over 60 s at a load of 15 on 2 cores
  beforeAll(async () => {
    h = await openServerHarness(backend);
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });

  it('answers problem+json without a key, for bad keys, unparsable bodies, unknown routes and big bodies; /health needs no key', async () => {
    const health = await h.app.request('/health');
    expect(health.status).toBe(200);
    expect(((await health.json()) as { database: { ok: boolean } }).database.ok).toBe(true);
    for (const [res, status] of [
      [await h.app.request('/v1/accounts'), 401],
      [await h.app.request('/v1/accounts', { headers: { 'x-api-key': 'sk_nope' } }), 401],
      [await h.call('POST', '/v1/accounts', '{"name": '), 400],
      [await h.call('GET', '/v1/nothing/here'), 404],
      [await h.call('GET', '/v1/accounts/999999'), 404],
      [await h.call('POST', '/v1/accounts', { name: 'x'.repeat(70 * 1024) }), 413],
    ] as const) {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const p = (await res.json()) as { status: number; title: string };
      expect(p.status).toBe(status);
    }
    const read = await h.key(['read']);
    const denied = await h.app.request('/v1/accounts', {
      method: 'POST',
      headers: { 'x-api-key': read, 'content-type': 'application/json' },
      body: '{"name":"A"}',
    });
    expect(denied.status).toBe(403);
    const invalid = await h.call('POST', '/v1/jobs', { pipeline: 42 });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe('pipeline');
  });

  it('upserts with the import dedupe, records a manual edit as source manual, explains lineage, lists by cursor', async () => {
    const first = await h.call('POST', '/v1/accounts', {
      name: 'Pine Hollow Golf Club',
      website: 'https://www.pinehollowgolf.com/',
      state: 'VA',
      phone: '(804) 555-0100',
    });
    expect(first.status).toBe(201);
    const { id } = (await first.json()) as { id: number };
    const again = await h.call('POST', '/v1/accounts', {
      name: 'PINE HOLLOW GOLF CLUB',
      domain: 'pinehollowgolf.com',
      city: 'Richmond',
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({
      id,
      outcome: 'merged',
      record: { city: 'Richmond', phone: '+18045550100' },
    });

    const edit = await h.call('PATCH', `/v1/accounts/${id}`, { phone: '804-555-0199' });
    expect(edit.status).toBe(200);
    expect(((await edit.json()) as { phone: string }).phone).toBe('+18045550199');
    expect((await h.call('PATCH', `/v1/accounts/${id}`, { phone: 'not a phone' })).status).toBe(422);
    const lineage = (await (await h.call('GET', `/v1/accounts/${id}/lineage`)).json()) as {
      field: string;
      why: string;
      values: { source: string; current: boolean; value: unknown }[];
    }[];
    const phone = lineage.find((f) => f.field === 'phone')!;
    expect(phone.values[0]).toMatchObject({ source: 'manual', current: true, value: '+18045550199' });
    expect(phone.values[1]).toMatchObject({ source: 'api', current: false });
    expect(phone.why).toContain('manual');

    for (const name of ['Alpha Links', 'Beta Links', 'Gamma Links'])
      await h.call('POST', '/v1/accounts', { name, state: 'NC' });
    const p1 = (await (await h.call('GET', '/v1/accounts?where=state%3DNC&limit=2')).json()) as {
      data: { name: string }[];
      next_cursor: string;
      has_more: boolean;
    };
    expect(p1.data.map((r) => r.name)).toEqual(['Alpha Links', 'Beta Links']);
    expect(p1.has_more).toBe(true);
    const p2 = (await (
      await h.call('GET', `/v1/accounts?where=state%3DNC&limit=2&cursor=${p1.next_cursor}`)
    ).json()) as typeof p1;
    expect(p2.data.map((r) => r.name)).toEqual(['Gamma Links']);
    expect(p2.has_more).toBe(false);

    const contact = await h.call('POST', '/v1/contacts', {
      first_name: 'Stacy',
      last_name: 'Foster',
      email: 'SFoster@PineHollowGolf.com',
      account: { name: 'Pine Hollow Golf Club', domain: 'pinehollowgolf.com' },
    });
    expect(contact.status).toBe(201);
    expect(
      ((await contact.json()) as { record: { email: string; account_id: number } }).record,
    ).toMatchObject({ email: 'sfoster@pinehollowgolf.com', account_id: id });
  });

  it('Idempotency-Key: replays the first response, 422 for another body, 409 while in flight', async () => {
    const body = { name: 'Idem Golf', state: 'VA' };
    const a = await h.call('POST', '/v1/accounts', body, { 'idempotency-key': 'k-1' });
    const b = await h.call('POST', '/v1/accounts', body, { 'idempotency-key': 'k-1' });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect(await b.json()).toEqual(await a.json());
    expect(
      (await h.call('POST', '/v1/accounts', { name: 'Other' }, { 'idempotency-key': 'k-1' })).status,
    ).toBe(422);
    // a first request still running (claimed, no response yet)
    const [hash] = (
      await h.db.query<{ request_hash: string }>(
        "SELECT request_hash FROM idempotency_keys WHERE key = 'k-1'",
      )
    ).rows;
    await h.db.query(
      "INSERT INTO idempotency_keys (api_key_id, key, path, request_hash) SELECT api_key_id, 'k-2', path, request_hash FROM idempotency_keys WHERE key = 'k-1'",
    );
    expect(hash).toBeDefined();
    expect((await h.call('POST', '/v1/accounts', body, { 'idempotency-key': 'k-2' })).status).toBe(409);
  });

  it('POST /v1/jobs answers 202 with Location; GET shows state and progress; enrich-course answers job_id and status', async () => {
    const res = await h.call('POST', '/v1/jobs', {
      pipeline: 'golf-courses',
      records: [{ name: 'Job Golf Club', website: 'jobgolf.com', state: 'VA' }],
    });
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as { job_id: string; status: string; total: number };
    expect(accepted).toMatchObject({ status: 'processing', total: 1 });
    expect(res.headers.get('location')).toBe(`/v1/jobs/${accepted.job_id}`);
    const job = (await (await h.call('GET', `/v1/jobs/${accepted.job_id}`)).json()) as {
      state: string;
      progress: { queued: number };
    };
    expect(job).toMatchObject({ state: 'processing', progress: { queued: 1 } });
    expect((await h.call('POST', '/v1/jobs', { pipeline: 'no-such-pipeline', ids: [1] })).status).toBe(422);
    // callback URLs pass the outbound SSRF guard when given (the harness admits loopback only)
    for (const callback_url of [
      'http://10.1.2.3/hook',
      'http://169.254.169.254/latest',
      'file:///etc/passwd',
    ]) {
      const refused = await h.call('POST', '/v1/jobs', { pipeline: 'golf-courses', ids: [1], callback_url });
      expect(refused.status).toBe(422);
      expect(((await refused.json()) as { detail: string }).detail).toMatch(/^callback_url: /);
    }
    const course = await h.call(
      'POST',
      '/api/enrich-course',
      {
        course_name: 'Richmond Country Club',
        state: 'Virginia',
        course_id: 'c1',
        city: 'Richmond',
        website: 'https://www.richmondcountryclubva.com',
        callback_url: 'http://127.0.0.1:9/receive',
      },
      { 'x-api-key': h.writeKey },
    );
    expect(course.status).toBe(202);
    expect(await course.json()).toMatchObject({
      status: 'processing',
      webhook_secret: expect.stringMatching(/^whsec_/),
    });
    const account = await h.db.query<{ state: string; city: string; website: string }>(
      "SELECT state, city, website FROM accounts WHERE name = 'Richmond Country Club'",
    );
    expect(account.rows[0]).toMatchObject({ state: 'VA', city: 'Richmond' });
    expect(account.rows[0]!.website).toBe('https://www.richmondcountryclubva.com');
  });

  it('serves the OpenAPI 3.1 document, a docs page with no external assets, and Prometheus metrics', async () => {
    const doc = (await (await h.call('GET', '/v1/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/accounts/{id}', '/v1/jobs', '/api/enrich-course', '/v1/hooks/{source}']),
    );
    const page = await (await h.call('GET', '/v1/docs')).text();
    expect(page).toContain('/api/enrich-course');
    expect(page).not.toMatch(/<script|https?:\/\/(?!sluice)[a-z]+\.[a-z]+\/.*\.(js|css)/i);
    const metrics = await (await h.call('GET', '/metrics')).text();
    expect(metrics).toMatch(
      /sluice_http_request_duration_seconds_bucket\{method="GET",route="\/v1\/accounts\/:id",status="404",le="\+Inf"\} \d+/,
    );
    expect(metrics).toContain('sluice_queue_depth');
  });
});
