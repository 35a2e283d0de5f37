import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { countActiveKeys } from '../api-keys/api-keys.ts';
import type { Db } from '../db/db.ts';
import type { RunEngine } from '../engine/run-executor.ts';
import { startWorker, type Worker } from '../engine/worker-loop.ts';
import { ConfigError } from '../errors.ts';
import { startJobWatcher } from '../jobs/job-watcher.ts';
import { createOutreachServices } from '../outreach/outreach-services.ts';
import { startSequenceFor } from '../outreach/start-sequence.ts';
import type { PollLoop } from '../queue/poll-loop.ts';
import { startSyncScheduler } from '../sync/sync-schedule.ts';
import type { TriggerRule } from '../triggers/trigger-config.ts';
import { setTriggersEnabled, startTriggerFeeder } from '../triggers/trigger-feeder.ts';
import { startDeliveryWorker } from '../webhooks/delivery-worker.ts';
import { defaultInboundRegistry } from '../webhooks/inbound/default-sources.ts';
import { releaseHookEventClaims, startHookProcessor } from '../webhooks/inbound/hook-events.ts';
import type { InboundRegistry } from '../webhooks/inbound/inbound-registry.ts';
import { startLeaseOwner } from '../webhooks/lease-owner.ts';
import type { CallbackPolicy } from '../webhooks/send-webhook.ts';
import { releaseDeliveryClaims } from '../webhooks/webhook-store.ts';
import { createApp } from './app.ts';
import { HttpMetrics } from './http-metrics.ts';
import { startPresence } from './presence.ts';

export interface StartServerOptions {
  db: Db;
  engine: RunEngine;
  env: Readonly<Record<string, string | undefined>>;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 4000; 0 = any free port. */
  port?: number;
  /** Runs in flight in this process; 0 = none (separate `sluice worker`s). Default 10. */
  workers?: number;
  heartbeatSeconds?: number;
  rules?: TriggerRule[];
  callbacks?: CallbackPolicy;
  hooks?: InboundRegistry;
  jsonLimitBytes?: number;
  uploadLimitBytes?: number;
  /** Poll interval of the background loops (jobs, deliveries, hooks, triggers), ms. Default 500. */
  pollMs?: number;
  log?: (line: string) => void;
  /** How often enabled syncs are checked for being due, ms. Default 5000. */
  syncCheckMs?: number;
  /** Providers answer from the sandbox (`serve --sandbox`): told to the dashboard. Default false. */
  sandbox?: boolean;
}

export interface RunningServer {
  url: string;
  port: number;
  /** Graceful: stop accepting, finish in-flight requests and runs, stop the loops. Idempotent. */
  stop(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

/**
 * `sluice serve` as a function: the HTTP server, the in-process run worker (the engine's own loop), the
 * job watcher, the webhook sender, the inbound hook processor and the trigger feeder, on one database.
 */
export async function startServer(o: StartServerOptions): Promise<RunningServer> {
  const host = o.host ?? '127.0.0.1';
  const log = o.log ?? (() => {});
  const { db, engine } = o;
  if (!isLoopbackHost(host) && (await countActiveKeys(db)) === 0)
    throw new ConfigError(
      `refusing to listen on ${host}: no API key exists, and this address is reachable from other machines. Create one first with "sluice keys create --name NAME", or bind to 127.0.0.1.`,
      { exitCode: 2 },
    );
  const onError = (what: string) => (err: unknown) => log(`${what}: ${(err as Error).message}`);
  // Claims a process that died (kill -9) left go out now rather than when their lease lapses. PGlite:
  // one process owns the database, so every claim still held is such a one. Server Postgres: each
  // claim names its owner, and an owner whose advisory lock is free is dead (lease-owner.ts).
  const owner = await startLeaseOwner(db, { onError: onError('lease owner') });
  const freed = owner
    ? owner.reclaimedAtStart
    : (await releaseDeliveryClaims(db)) + (await releaseHookEventClaims(db));
  if (freed > 0) log(`serve: took over ${freed} delivery/event claim(s) left by a process that stopped`);
  const rules = o.rules ?? [];
  await setTriggersEnabled(db, rules.length > 0);
  const pollMs = o.pollMs ?? 500;
  const policy = o.callbacks ?? {};
  const hooks = o.hooks ?? defaultInboundRegistry(o.env);
  const named = owner ? { owner: owner.current } : {};
  const deliveries = startDeliveryWorker({
    db,
    policy,
    intervalMs: pollMs,
    onError: onError('webhooks'),
    ...named,
  });
  const watcher = startJobWatcher(db, {
    intervalMs: pollMs,
    onFinished: () => deliveries.nudge(),
    onError: onError('jobs'),
  });
  const hookLoop = startHookProcessor(db, hooks, { intervalMs: pollMs, onError: onError('hooks'), ...named });
  const loops: PollLoop[] = [deliveries, watcher, hookLoop];
  // Enabled syncs (`sluice sync enable`) run after their pipeline's batches and on their schedule.
  loops.push(
    startSyncScheduler(db, {
      env: o.env,
      log,
      intervalMs: o.syncCheckMs ?? 5000,
      onError: onError('syncs'),
    }),
  );
  if (rules.length > 0)
    loops.push(
      startTriggerFeeder(db, engine.queue, rules, {
        intervalMs: pollMs,
        startSequence: async (sequence, contacts, rule) => {
          const r = await startSequenceFor(createOutreachServices(db, o.env, { log }), contacts, sequence);
          log(`rule ${rule}: sequence ${sequence} started for ${r.started} of ${contacts.length} contacts`);
        },
        onJob: (rule, id, n) => log(`rule ${rule}: job ${id} for ${n} account${n === 1 ? '' : 's'}`),
        onError: onError('triggers'),
      }),
    );
  const workers = o.workers ?? 10;
  const worker: Worker | undefined =
    workers > 0
      ? startWorker({
          engine,
          concurrency: workers,
          heartbeatSeconds: o.heartbeatSeconds ?? 20,
          onError: onError('worker'),
        })
      : undefined;
  const presence = startPresence(db, 'serve', workers, onError('presence'));
  const metrics = new HttpMetrics();
  const unwatch = metrics.watchRuntime();
  const app = createApp(
    {
      db,
      engine,
      hooks,
      env: o.env,
      metrics,
      callbacks: policy,
      workers,
      startedAt: new Date(),
      sandbox: o.sandbox === true,
      ...(o.jsonLimitBytes ? { jsonLimitBytes: o.jsonLimitBytes } : {}),
      ...(o.uploadLimitBytes ? { uploadLimitBytes: o.uploadLimitBytes } : {}),
    },
    {
      onHookStored: () => hookLoop.nudge(),
      onError: (err, path) => log(`${path}: ${(err as Error).stack ?? err}`),
    },
  );
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: o.port ?? 4000 }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    stop() {
      stopping ??= (async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        worker?.stop();
        await Promise.all([worker?.done, ...loops.map((l) => l.stop())]);
        await owner?.stop();
        await presence.stop();
        unwatch();
      })();
      return stopping;
    },
  };
}
