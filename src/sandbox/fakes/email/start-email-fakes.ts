import type { World } from '../../world.ts';
import { listen, type RunningServer } from '../fake-kit.ts';
import { createInstantlyFake, type InstantlyFake } from './instantly.ts';
import { createSendGridFake, type SendGridFake } from './sendgrid.ts';

/**
 * The email fakes of the sandbox (SendGrid, Instantly), each on its own local port, answered by the
 * world's people, and the env lines that point Sluice's email channels at them (keys, base URLs, and the
 * SendGrid webhook's public key so `sluice serve --sandbox` verifies the fake's signed events).
 * Their webhooks go nowhere until `configure`d (SendGrid) or subscribed (Instantly `POST /api/v2/webhooks`).
 */
export interface EmailFakes {
  sendgrid: SendGridFake;
  instantly: InstantlyFake;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startEmailFakes(
  world: World,
  options: { port?: number; seed?: number } = {},
): Promise<EmailFakes> {
  const sendgrid = createSendGridFake({ world, seed: options.seed ?? world.seed });
  const instantly = createInstantlyFake({ world, seed: options.seed ?? world.seed });
  const running: RunningServer[] = [];
  try {
    const sg = await listen(sendgrid.app, options.port ?? 0);
    running.push(sg);
    const inst = await listen(instantly.app, options.port ? options.port + 1 : 0);
    running.push(inst);
    return {
      sendgrid,
      instantly,
      env: {
        SENDGRID_API_KEY: sendgrid.apiKey,
        SLUICE_SENDGRID_BASE_URL: sg.url,
        SLUICE_HOOK_SENDGRID_PUBLIC_KEY: sendgrid.publicKey,
        INSTANTLY_API_KEY: instantly.apiKey,
        SLUICE_INSTANTLY_BASE_URL: inst.url,
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
