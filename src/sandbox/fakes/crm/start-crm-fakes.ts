import { listen, type RunningServer } from '../fake-kit.ts';
import { type ClickUpFake, createClickUpFake } from './clickup.ts';
import { createGoHighLevelFake, type GoHighLevelFake } from './gohighlevel.ts';
import { createHubSpotFake, type HubSpotFake } from './hubspot.ts';

/**
 * The CRM fakes of the sandbox, each on its own local port, and the env lines that point Sluice's
 * destinations at them (tokens included). Started by startSandbox; usable alone in tests.
 */
export interface CrmFakes {
  clickup: ClickUpFake;
  hubspot: HubSpotFake;
  gohighlevel: GoHighLevelFake;
  baseUrls: Record<'clickup' | 'hubspot' | 'gohighlevel', string>;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startCrmFakes(options: { port?: number } = {}): Promise<CrmFakes> {
  const clickup = createClickUpFake();
  const hubspot = createHubSpotFake();
  const gohighlevel = createGoHighLevelFake();
  const running: RunningServer[] = [];
  try {
    const port = options.port ?? 0;
    const cu = await listen(clickup.app, port);
    running.push(cu);
    const hs = await listen(hubspot.app, port ? port + 1 : 0);
    running.push(hs);
    const ghl = await listen(gohighlevel.app, port ? port + 2 : 0);
    running.push(ghl);
    return {
      clickup,
      hubspot,
      gohighlevel,
      baseUrls: { clickup: cu.url, hubspot: hs.url, gohighlevel: ghl.url },
      env: {
        SLUICE_CLICKUP_BASE_URL: cu.url,
        CLICKUP_API_KEY: clickup.apiKey,
        SLUICE_HUBSPOT_BASE_URL: hs.url,
        HUBSPOT_ACCESS_TOKEN: hubspot.apiKey,
        SLUICE_GOHIGHLEVEL_BASE_URL: ghl.url,
        GHL_API_KEY: gohighlevel.apiKey,
        GHL_LOCATION_ID: gohighlevel.locationId,
        // the fake's fixed signing key: `sluice serve` verifies its webhooks with it
        SLUICE_HOOK_GOHIGHLEVEL_PUBLIC_KEY: gohighlevel.webhookPublicKey,
      },
      async stop() {
        await Promise.all(running.map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.all(running.map((s) => s.close()));
    throw err;
  }
}
