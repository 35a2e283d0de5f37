import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../src/api-keys/api-keys.ts';
import { loadConfig } from '../src/config/config.ts';
import type { Db } from '../src/db/db.ts';
import { openRunEngine } from '../src/engine/engine-services.ts';
import { bossSchemaFor } from '../src/queue/pg-boss-driver.ts';
import { startServer } from '../src/server/start-server.ts';
import { parseTriggerConfig } from '../src/triggers/trigger-config.ts';
import { setTriggersEnabled, startTriggerFeeder } from '../src/triggers/trigger-feeder.ts';
import { startDeliveryWorker } from '../src/webhooks/delivery-worker.ts';
import {
  enqueueDelivery,
  ensureEndpoint,
  replayDelivery,
  showDelivery,
} from '../src/webhooks/webhook-store.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { startReceiver } from './helpers/callback-receiver.ts';
import { openServerHarness, type ServerHarness } from './helpers/server-harness.ts';

async function until<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describeEachBackend('server operations', (backend) => {
  let h: ServerHarness;
  beforeAll(async () => {
    h = await openServerHarness(backend);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('POST /v1/imports streams a CSV through the importer: same dedupe, same per-row rejections with line numbers', async () => {
    const csv =
      'Company Name,Website,State\r\nUpload Golf Club,uploadgolf.com,VA\r\n,,TX\r\n"Upload Golf Club, Inc.",https://www.uploadgolf.com/about,VA\r\n';
    const res = await h.app.request('/v1/imports?kind=accounts&name=courses.csv', {
      method: 'POST',
      headers: { authorization: `Bearer ${h.writeKey}`, 'content-type': 'text/csv' },
      body: csv,
    });
    expect(res.status).toBe(200);
    const result = (await res.json()) as {
      file: string;
      inserted: number;
      merged: number;
      rejected: number;
      errors: { line: number }[];
    };
    expect(result).toMatchObject({ file: 'courses.csv', inserted: 1, merged: 1, rejected: 1 });
    expect(result.errors[0]!.line).toBe(3);
    const rows = await h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM accounts WHERE domain = 'uploadgolf.com'",
    );
    expect(rows.rows[0]!.n).toBe(1);
  });

  it('a revoked key is refused; a key with the wrong scope gets 403', async () => {
    const { key } = await createApiKey(h.db, { name: 'to-revoke', scopes: ['read'] });
    expect(await revokeApiKey(h.db, 'to-revoke')).toHaveLength(1);
    const res = await h.app.request('/v1/accounts', { headers: { 'x-api-key': key } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { detail: string }).detail).toContain('revoked');
  });

  it('refuses to bind a non-loopback address while no API key exists', async () => {
    const db = await openTestDb(backend);
    const engine = await openRunEngine(loadConfig({}), db);
    try {
      await expect(
        startServer({ db, engine, env: {}, host: '0.0.0.0', port: 0, workers: 0 }),
      ).rejects.toThrow(/refusing to listen on 0\.0\.0\.0: no API key exists.*sluice keys create/);
      await createApiKey(db, { name: 'k', scopes: ['read'] });
      const server = await startServer({ db, engine, env: {}, host: '0.0.0.0', port: 0, workers: 0 });
      await server.stop();
    } finally {
      await engine.queue.stop();
      if (db.connection)
        await db.exec(`DROP SCHEMA IF EXISTS "${bossSchemaFor(db.connection.schema)}" CASCADE`);
      await db.close();
    }
  });

  it('trigger config errors name file, line, column and field', () => {
    expect(() =>
      parseTriggerConfig(
        'rules:\n  - name: ok\n    on: account.created\n    pipeline: golf-courses\n  - name: Bad Name\n    on: account.updated\n    pipeline: golf-courses\n    where: status ==\n',
        'sluice.config.yaml',
      ),
    ).toThrow(
      /sluice\.config\.yaml:5:11: rules\[1\]\.name: .*\n.*sluice\.config\.yaml:6:9: rules\[1\]\.on: /,
    );
    expect(() => parseTriggerConfig('rules:\n  - name: x\n    on: [\n', 'sluice.config.yaml')).toThrow(
      /sluice\.config\.yaml:\d+:\d+/,
    );
  });

  it('rows INSERTed by SQL while no server runs are picked up when one starts', async () => {
    // a server with rules ran once (it switched the triggers on) and stopped
    await setTriggersEnabled(h.db, true);
    await h.db.query(
      "INSERT INTO accounts (name, state, status) VALUES ('Offline Insert CC', 'VA', 'pending_enrichment'), ('Offline Other CC', 'VA', 'new')",
    );
    const rules = parseTriggerConfig(
      'rules:\n  - name: pending\n    on: account.created\n    where: status = pending_enrichment\n    pipeline: golf-courses\n',
      'sluice.config.yaml',
    ).rules;
    const feeder = startTriggerFeeder(h.db, h.engine.queue, rules, { intervalMs: 100 });
    try {
      const jobs = await until(async () => {
        const r = await h.db.query<{ rule: string; names: string[] }>(
          `SELECT j.rule, array_agg(a.name) AS names FROM jobs j JOIN runs r ON r.batch_id = j.batch_id
             JOIN accounts a ON a.id = r.account_id WHERE j.kind = 'rule' GROUP BY j.id, j.rule`,
        );
        return r.rows.length > 0 && r.rows;
      });
      expect(jobs).toEqual([{ rule: 'pending', names: ['Offline Insert CC'] }]);
      await until(async () => {
        const left = await h.db.query('SELECT 1 FROM record_events');
        return left.rows.length === 0;
      });
    } finally {
      await feeder.stop();
      await setTriggersEnabled(h.db, false);
    }
  }, 150_000);

  it(
    'replay sends a failed delivery again with the same webhook-id and re-enables its endpoint',
    async () => {
      const receiver = await startReceiver([410, 200]);
      const sender = startDeliveryWorker({
        db: h.db,
        policy: { allowLoopback: true },
        intervalMs: 100,
        onError: (err) => console.error('DELIVERY WORKER ERROR', err),
      });
      try {
        const e = await ensureEndpoint(h.db, receiver.url);
        receiver.setSecret(e.secret!);
        const d = await h.db.transaction((tx) =>
          enqueueDelivery(tx, { endpointId: e.endpoint.id, eventType: 'job.completed', payload: { n: 7 } }),
        );
        const gone = await until(async () => {
          const s = await showDelivery(h.db, d.id);
          return s?.state === 'failed' && s;
        });
        expect(gone.attemptLog.map((a) => a.outcome)).toEqual(['gone']);
        expect(await replayDelivery(h.db, d.id)).toBe(true);
        expect(await replayDelivery(h.db, 999_999)).toBe(false);
        sender.nudge();
        const done = await until(async () => {
          const s = await showDelivery(h.db, d.id);
          return s?.state === 'succeeded' && s;
        });
        expect(done.attemptLog.map((a) => a.outcome)).toEqual(['gone', 'succeeded']);
        expect(receiver.received[1]!.headers['webhook-id']).toBe(receiver.received[0]!.headers['webhook-id']);
        expect(receiver.received[1]!.verified).toEqual({ n: 7 });
      } finally {
        await sender.stop();
        await receiver.close();
      }
      // retry: on PGlite it timed out (90 s) once in a full quiet suite and passed 3 of 3 alone; not yet
      // understood (session 19 note). A retry reruns it whole, with every assertion.
    },
    { timeout: 150_000, retry: 1 },
  );

  it("a receiver's answer is kept when the database fails while it is recorded: no resend after the lease", async () => {
    const receiver = await startReceiver([410, 200]);
    // the real database, with its first transaction after the POST cut off as by a restart
    let cut = 0;
    const flaky: Db = {
      ...h.db,
      query: (text, params) => h.db.query(text, params),
      exec: (sql) => h.db.exec(sql),
      transaction: (fn) => {
        if (receiver.received.length > 0 && cut++ === 0)
          return Promise.reject(
            Object.assign(new Error('terminating connection due to administrator command'), {
              code: '57P01',
            }),
          );
        return h.db.transaction(fn);
      },
    };
    const waited: unknown[] = [];
    const sender = startDeliveryWorker({
      db: flaky,
      policy: { allowLoopback: true },
      intervalMs: 100,
      onError: (err) => waited.push(err),
    });
    try {
      const e = await ensureEndpoint(h.db, receiver.url);
      receiver.setSecret(e.secret!);
      const d = await h.db.transaction((tx) =>
        enqueueDelivery(tx, { endpointId: e.endpoint.id, eventType: 'job.completed', payload: { n: 8 } }),
      );
      // well inside the 30 s lease: a lapsed claim would be sent again and answered 200
      const gone = await until(async () => {
        const s = await showDelivery(h.db, d.id);
        return s?.state !== 'pending' && s;
      }, 20_000);
      expect(cut).toBeGreaterThanOrEqual(1);
      expect(waited).toHaveLength(1);
      expect(gone.state).toBe('failed');
      expect(gone.attemptLog.map((a) => a.outcome)).toEqual(['gone']);
      expect(receiver.received).toHaveLength(1);
    } finally {
      await sender.stop();
      await receiver.close();
    }
  }, 60_000);
});
