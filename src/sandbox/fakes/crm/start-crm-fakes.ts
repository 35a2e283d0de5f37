import { listen, type RunningServer } from '../fake-kit.ts';
import { type ClickUpFake, createClickUpFake } from './clickup.ts';
import { createHubSpotFake, type HubSpotFake } from './hubspot.ts';

/**
 * The CRM fakes of the sandbox, each on its own local port, and the env lines that point Sluice's
 * destinations at them (tokens included). Started by startSandbox; usable alone in tests.
 */
export interface CrmFakes {
  clickup: ClickUpFake;
  hubspot: HubSpotFake;
  baseUrls: Record<'clickup' | 'hubspot', string>;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startCrmFakes(options: { port?: number } = {}): Promise<CrmFakes> {
  const clickup = createClickUpFake();
  const hubspot = createHubSpotFake();
  const running: RunningServer[] = [];
  try {
    const port = options.port ?? 0;
    const cu = await listen(clickup.app, port);
    running.push(cu);
    const hs = await listen(hubspot.app, port ? port + 1 : 0);
    running.push(hs);
    return {
      clickup,
      hubspot,
      baseUrls: { clickup: cu.url, hubspot: hs.url },
      env: {
        SLUICE_CLICKUP_BASE_URL: cu.url,
        CLICKUP_API_KEY: clickup.apiKey,
        SLUICE_HUBSPOT_BASE_URL: hs.url,
        HUBSPOT_ACCESS_TOKEN: hubspot.apiKey,
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
