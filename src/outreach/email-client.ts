import type { DestinationDefinition } from '../crm/define-destination.ts';
import { createDestinationClient } from '../crm/destination-client.ts';
import type { Queryable } from '../db/db.ts';
import type { EmailProviderDefinition, EmailSession } from './email-provider.ts';

/**
 * Connects an email tool through the same HTTP edge and shared limiter as the CRM destinations
 * (src/crm/destination-client.ts): auth, base URL override `SLUICE_<ID>_BASE_URL`, throttles waited out
 * without counting as attempts, and a limit booked in Postgres so every process on the database stays
 * under the tool's (workspace-wide) limit together.
 */
export function connectEmailProvider(
  def: EmailProviderDefinition,
  options: {
    db: Queryable;
    env: Readonly<Record<string, string | undefined>>;
    fetch?: typeof fetch;
    timeoutMs?: number;
  },
): EmailSession {
  const shim: DestinationDefinition = {
    id: def.id,
    name: def.name,
    auth: def.auth,
    baseUrl: def.baseUrl,
    applyAuth: (req, token) => def.applyAuth(req, token),
    limits: def.limits,
    ...(def.searchLimits ? { searchLimits: def.searchLimits } : {}),
    concurrency: def.concurrency,
    mapError: def.mapError,
    objects: {},
    fieldTypes: [],
    connect: () => {
      throw new Error(`${def.id} is an email provider, not a CRM`);
    },
  };
  const client = createDestinationClient(shim, {
    db: options.db,
    env: options.env,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    timeoutMs: options.timeoutMs ?? 15_000,
    maxThrottleWaitMs: 2 * 60_000,
  });
  return def.connect(client);
}
