import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createApiKey } from '../src/api-keys/api-keys.ts';
import { WORKER_NICE } from '../src/server/worker-processes.ts';
import { listDeliveries } from '../src/webhooks/webhook-store.ts';
import { backends, describeEachBackend } from './helpers/backends.ts';
import { startReceiver } from './helpers/callback-receiver.ts';
import { apiClient, killAll, spawnServe, spawnSluice, until } from './helpers/serve.ts';
import { type SharedDb, sharedDb } from './helpers/shared-db.ts';

/** `sluice serve` and `sluice worker` as users run them: real child processes of the CLI. */
const children: ChildProcess[] = [];
const sluice = (args: string[], env: Record<string, string>, cwd: string) =>
  spawnSluice(args, env, cwd, children);

describeEachBackend('sluice serve / worker processes', (backend) => {
  let shared: SharedDb;
  let cwd: string;
  beforeEach(() => {
    shared = sharedDb(backend);
    cwd = mkdtempSync(join(tmpdir(), 'sluice-serve-'));
  });
  afterEach(async () => {
    killAll(children);
    await shared.cleanup();
  });

  const createKey = async () => {
    const keys = sluice(['keys', 'create', '--name', 'edge-function', '--json'], shared.env, cwd);
    expect(await keys.exited).toBe(0);
    return (JSON.parse(keys.out()) as { key: string }).key;
  };
  const serve = () => spawnServe(shared.env, cwd, children);

  // Both backends: PGlite releases every claim at start (one process owns it); server Postgres takes
  // back the claims of owners whose advisory lock is free (lease-owner.ts), without waiting out the lease.
  it('kill -9 of the server between a job finishing and its callback loses nothing: the restarted server sends it', async () => {
    // the key in-process (the CLI's `keys create` is a process of its own: the tests below run it)
    const setup = await shared.open();
    const { key } = await createApiKey(setup, { name: 'edge-function', scopes: ['write'] });
    await setup.close();
    // the first attempt gets no answer: the server is killed while it waits for one
    const receiver = await startReceiver([200], { stall: [0] });
    try {
      const first = await serve();
      const res = await fetch(`${first.url}/api/enrich-course`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({
          // a course of the sandbox's world (seed 1), the README's example
          course_name: 'Forest Greens Golf & Country Club',
          state: 'Virginia',
          callback_url: receiver.url,
          course_id: 42,
        }),
      });
      expect(res.status).toBe(202);
      const accepted = (await res.json()) as { job_id: string; webhook_secret: string };
      receiver.setSecret(accepted.webhook_secret);
      await receiver.waitFor(1, 180_000);
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');

      // what the crash left: the job finished, its delivery claimed (leased) but not sent
      const db = await shared.open();
      try {
        const d = await db.query<{ state: string; attempts: number; job_state: string; leased: boolean }>(
          `SELECT d.state, d.attempts, j.state AS job_state, d.locked_until > now() AS leased
             FROM webhook_deliveries d JOIN jobs j ON j.id = d.job_id`,
        );
        expect(d.rows).toEqual([{ state: 'pending', attempts: 1, job_state: 'completed', leased: true }]);
      } finally {
        await db.close();
      }

      const second = await serve();
      // the new server takes the dead one's claim at start (no lease wait)
      await second.waitFor(/took over 1 delivery\/event claim/);
      await receiver.waitFor(2, 120_000);
      const [lost, sent] = receiver.received;
      expect(sent!.headers['webhook-id']).toBe(lost!.headers['webhook-id']);
      expect(sent!.body).toBe(lost!.body);
      const payload = sent!.verified as {
        type: string;
        job_id: string;
        course_id: string;
        contacts: unknown[];
      };
      expect(payload).toMatchObject({ type: 'job.completed', job_id: accepted.job_id, course_id: 42 });
      expect(payload.contacts.length).toBeGreaterThan(0);
      const health = (await (await fetch(`${second.url}/health`)).json()) as {
        workers: { serve: number };
      };
      expect(health.workers.serve).toBeGreaterThanOrEqual(1);

      // graceful stop on SIGTERM, then the delivery's record: one attempt logged, succeeded
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      const after = await shared.open();
      try {
        expect(await listDeliveries(after)).toMatchObject([{ state: 'succeeded', attempts: 2 }]);
      } finally {
        await after.close();
      }
      expect(receiver.received).toHaveLength(2);
    } finally {
      await receiver.close();
    }
  }, 400_000);

  it.skipIf(backend === 'pglite' || !backends.includes('postgres'))(
    'a separate `sluice worker` is counted by /health and `sluice status` while it runs, and not after it stops',
    async () => {
      const status = async () => {
        const s = sluice(['status', '--json'], shared.env, cwd);
        expect(await s.exited).toBe(0);
        return (JSON.parse(s.out()) as { health: { workers: { worker: number; serve: number } } }).health
          .workers;
      };
      // the database exists (migrated) before the worker starts
      expect(await status()).toEqual({ seen: 0, serve: 0, worker: 0, working: 0 });
      const worker = sluice(['worker', '--concurrency', '1'], shared.env, cwd);
      await worker.waitFor(/working \(concurrency 1\)/);
      expect(
        await until(async () => {
          const w = await status();
          return w.worker === 1 && w;
        }),
      ).toEqual({
        seen: 1,
        serve: 0,
        worker: 1,
        working: 1,
      });
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      expect(await status()).toEqual({ seen: 0, serve: 0, worker: 0, working: 0 });
    },
    120_000,
  );

  it.skipIf(backend === 'pglite' || !backends.includes('postgres'))(
    '`serve --workers 0` leaves runs to a separate `sluice worker`: queued (health degraded) until one starts, then done and called back',
    async () => {
      const key = await createKey();
      writeFileSync(
        join(cwd, 'tag.yaml'),
        'name: tag\nsteps:\n  - id: tag\n    kind: formula\n    fields:\n      tagged: "\'by a worker\'"\n',
      );
      const receiver = await startReceiver([200]);
      try {
        const s = await spawnServe(shared.env, cwd, children, ['--workers', '0']);
        const api = apiClient(s.url, key);
        const accepted = await api('/v1/jobs', {
          pipeline: 'tag.yaml',
          records: [{ name: 'Split Golf Club', state: 'VA' }],
          callback_url: receiver.url,
        });
        receiver.setSecret(accepted.webhook_secret as string);
        const health = () => api('/health') as Promise<{ status: string; workers: { working: number } }>;
        const waiting = await until(async () => {
          const h = await health();
          return h.status === 'degraded' && h;
        });
        expect(waiting.workers.working).toBe(0);
        expect(await api(`/v1/jobs/${accepted.job_id}`)).toMatchObject({
          state: 'processing',
          progress: { queued: 1 },
        });
        const worker = sluice(['worker', '--concurrency', '2'], shared.env, cwd);
        const [hit] = await receiver.waitFor(1, 90_000);
        const payload = hit!.verified as { type: string; records: { account: Record<string, unknown> }[] };
        expect(payload.type).toBe('job.completed');
        expect(payload.records[0]!.account).toMatchObject({ name: 'Split Golf Club', tagged: 'by a worker' });
        expect((await health()).status).toBe('ok');
        worker.child.kill('SIGTERM');
        s.child.kill('SIGTERM');
        expect(await worker.exited).toBe(0);
        expect(await s.exited).toBe(0);
      } finally {
        await receiver.close();
      }
    },
    180_000,
  );

  it.skipIf(backend === 'pglite' || !backends.includes('postgres'))(
    '`serve --worker-processes 1` works runs in a child `sluice worker`, which stops when the server is killed -9',
    async () => {
      const key = await createKey();
      writeFileSync(
        join(cwd, 'tag.yaml'),
        'name: tag\nsteps:\n  - id: tag\n    kind: formula\n    fields:\n      tagged: "\'by a child\'"\n',
      );
      const receiver = await startReceiver([200]);
      try {
        const s = sluice(
          ['serve', '--sandbox', '--worker-processes', '1', '--workers', '2', '--port', '0'],
          shared.env,
          cwd,
        );
        const m = await s.waitFor(/listening on (http:\/\/\S+) .*worker process \(pid (\d+)\)/);
        const childPid = Number(m[2]);
        const api = apiClient(m[1]!, key);
        const health = await until(async () => {
          const h = (await api('/health')) as { workers: { serve: number; worker: number; working: number } };
          return h.workers.worker === 1 && h;
        }, 120_000);
        // the server itself works no runs: the child does, at a lower CPU priority (nice 10 more)
        expect(health.workers).toMatchObject({ serve: 1, worker: 1, working: 1 });
        expect(getPriority(childPid)).toBe(Math.min(19, getPriority(s.child.pid!) + WORKER_NICE));
        const accepted = await api('/v1/jobs', {
          pipeline: 'tag.yaml',
          records: [{ name: 'Split Golf Club', state: 'VA' }],
          callback_url: receiver.url,
        });
        receiver.setSecret(accepted.webhook_secret as string);
        const [hit] = await receiver.waitFor(1, 90_000);
        const payload = hit!.verified as { type: string; records: { account: Record<string, unknown> }[] };
        expect(payload.records[0]!.account).toMatchObject({ name: 'Split Golf Club', tagged: 'by a child' });

        s.child.kill('SIGKILL');
        expect(await s.exited).toBe('SIGKILL');
        // no orphan: its stdin (a pipe from the dead server) closed, so the child stopped by itself
        const alive = () => {
          try {
            process.kill(childPid, 0);
            return true;
          } catch {
            return false;
          }
        };
        await until(async () => !alive(), 60_000);
      } finally {
        await receiver.close();
      }
    },
    180_000,
  );

  it.skipIf(backend !== 'pglite')(
    '`serve --worker-processes` on the embedded database is refused with the reason',
    async () => {
      const s = sluice(['serve', '--worker-processes', '1', '--port', '0'], shared.env, cwd);
      expect(await s.exited).toBe(2);
      expect(s.err()).toMatch(/--worker-processes 1: the embedded database .* belongs to one process/);
    },
    // the CLI's start (tsx compiling the sources) took over 60 s at a load of 15 on 2 cores
    180_000,
  );
});
