import { InboundRegistry } from './inbound-registry.ts';
import { genericSource, rb2bSource } from './record-sources.ts';
import { clickupSource, hubspotSource } from './signed-sources.ts';

/** The registry `sluice serve` starts with: RB2B, ClickUp, HubSpot and the generic signed source. */
export function defaultInboundRegistry(): InboundRegistry {
  return new InboundRegistry()
    .register(rb2bSource)
    .register(clickupSource)
    .register(hubspotSource)
    .register(genericSource);
}
