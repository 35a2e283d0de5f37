import { registerOutreachSources } from '../../outreach/outreach-hooks.ts';
import { clickupSyncSource, gohighlevelSyncSource, hubspotSyncSource } from '../../sync/crm-hooks.ts';
import { InboundRegistry } from './inbound-registry.ts';
import { genericSource, rb2bSource } from './record-sources.ts';
import { clickupSource, gohighlevelSource, hubspotSource } from './signed-sources.ts';

/**
 * The registry `sluice serve` starts with: RB2B, ClickUp, HubSpot, GoHighLevel, the generic signed
 * source, and outreach's SendGrid/Instantly sources. The ClickUp, HubSpot and GoHighLevel events are
 * processed by the CRM sync (src/sync/crm-hooks.ts: two-way fields).
 * Processors use `env` (keys, base URLs: the server's, e.g. the sandbox's), default `process.env`.
 */
export function defaultInboundRegistry(env?: Readonly<Record<string, string | undefined>>): InboundRegistry {
  const registry = new InboundRegistry()
    .register(rb2bSource)
    .register(clickupSyncSource(clickupSource, env))
    .register(hubspotSyncSource(hubspotSource, env))
    .register(gohighlevelSyncSource(gohighlevelSource, env))
    .register(genericSource);
  // SendGrid events and replies, Instantly events (src/outreach/outreach-hooks.ts)
  return registerOutreachSources(registry, env);
}
