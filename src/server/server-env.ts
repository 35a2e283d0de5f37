import type { ApiKey } from '../api-keys/api-keys.ts';
import type { Db } from '../db/db.ts';
import type { RunEngine } from '../engine/run-executor.ts';
import type { InboundRegistry } from '../webhooks/inbound/inbound-registry.ts';
import type { CallbackPolicy } from '../webhooks/send-webhook.ts';
import type { HttpMetrics } from './http-metrics.ts';

/** What every handler can use: the database, the run engine (queue + gateway), the hook registry. */
export interface ServerServices {
  db: Db;
  engine: RunEngine;
  hooks: InboundRegistry;
  /** The environment (Config.env): inbound hook secrets, SLUICE_PUBLIC_URL. */
  env: Readonly<Record<string, string | undefined>>;
  metrics: HttpMetrics;
  /** Which callback URLs are accepted (the SSRF guard; `allowLoopback` only for the sandbox and tests). */
  callbacks: CallbackPolicy;
  /** In-process run workers (0 = separate `sluice worker`s do the work). */
  workers: number;
  startedAt: Date;
  /** `serve --sandbox`: providers answer from simulated fakes (the dashboard marks its data simulated). */
  sandbox?: boolean;
  /** Request body limit for JSON, in bytes. Default 1 MiB. */
  jsonLimitBytes?: number;
  /** Request body limit for CSV uploads, in bytes. Default 512 MiB. */
  uploadLimitBytes?: number;
}

export interface ServerEnv {
  Variables: {
    services: ServerServices;
    apiKey: ApiKey;
    /** Named spans of this request, ms, sent with `app` in `Server-Timing` (see `timed`). */
    timings?: Record<string, number>;
  };
}
