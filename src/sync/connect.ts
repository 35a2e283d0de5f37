import type { DestinationSession } from '../crm/define-destination.ts';
import { createDestinationClient } from '../crm/destination-client.ts';
import { getDestination } from '../crm/registry.ts';
import type { Queryable } from '../db/db.ts';
import { routedLists, type SyncDefinition } from './compile-sync.ts';

/** How a sync reaches its destination: the environment (keys, base URLs) and test hooks. */
export interface ConnectOptions {
  db: Queryable;
  env: Readonly<Record<string, string | undefined>>;
  /** Base URL override (sandbox, tests); default from env `SLUICE_<ID>_BASE_URL` or the definition. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Counts requests (every one, throttled ones included). */
  stats?: { requests: number; throttled: number };
  /** Batches in flight at once. Default 16 (the limiter spaces them; each waits for its place). */
  concurrency?: number;
  timeoutMs?: number;
}

/** Connects the definition's destination: ids of lists, custom fields and owners resolved once. */
export async function connectDestination(
  def: SyncDefinition,
  options: ConnectOptions,
): Promise<DestinationSession> {
  const destination = getDestination(def.destination);
  const client = createDestinationClient(destination, {
    db: options.db,
    env: options.env,
    baseUrl: options.baseUrl,
    fetch: options.fetch,
    stats: options.stats,
    timeoutMs: options.timeoutMs,
  });
  return destination.connect(client, {
    object: def.object,
    lists: routedLists(def),
    fields: def.fields.map((f) => f.to),
    ...(def.parent
      ? { parent: { object: def.parent.object, fields: def.parent.fields.map((f) => f.to) } }
      : {}),
  });
}
