import { randomBytes } from 'node:crypto';
import type { World } from '../../world.ts';
import { listen, type RunningServer } from '../fake-kit.ts';
import { createInstantlyFake, type InstantlyFake } from './instantly.ts';
import { createSendGridFake, type SendGridFake } from './sendgrid.ts';

/**
 * The email fakes of the sandbox (SendGrid, Instantly), each on its own local port, answered by the
 * world's people, and the env lines that point Sluice's email channels at them (keys, base URLs, and the
 * SendGrid webhook's public key so `sluice serve --sandbox` verifies the fake's signed events).
 * Their webhooks go nowhere until `connect`ed to a server (`sluice serve --sandbox` does it): SendGrid's
 * Event Webhook and Inbound Parse, and an Instantly webhook subscription, all to that server's
 * `/v1/hooks/...` (the URL tokens are in `env`); then the fakes run live: SendGrid's events and replies
 * are delivered, and Instantly's campaigns advance on the wall clock.
 */
export interface EmailFakes {
  sendgrid: SendGridFake;
  instantly: InstantlyFake;
  env: Record<string, string>;
  /** Points the fakes' webhooks at `serverUrl` and runs them live every `intervalMs` (default 1000). */
  connect(serverUrl: string, options?: { intervalMs?: number }): Promise<void>;
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
    const inboundToken = randomBytes(18).toString('base64url');
    const instantlyToken = randomBytes(18).toString('base64url');
    let timer: NodeJS.Timeout | undefined;
    let ticking: Promise<void> = Promise.resolve();
    return {
      sendgrid,
      instantly,
      async connect(serverUrl, o = {}) {
        const base = serverUrl.replace(/\/$/, '');
        sendgrid.configure({
          eventUrl: `${base}/v1/hooks/sendgrid`,
          inboundUrl: `${base}/v1/hooks/sendgrid-inbound/${inboundToken}`,
        });
        const res = await instantly.app.request('/api/v2/webhooks', {
          method: 'POST',
          headers: { authorization: `Bearer ${instantly.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            target_hook_url: `${base}/v1/hooks/instantly/${instantlyToken}`,
            event_type: 'all_events',
          }),
        });
        if (!res.ok) throw new Error(`instantly fake: webhook subscription answered ${res.status}`);
        clearInterval(timer);
        timer = setInterval(() => {
          // one tick at a time: a slow server must not pile up deliveries
          ticking = ticking.then(async () => {
            await instantly.advance(new Date());
            await sendgrid.flush();
          });
        }, o.intervalMs ?? 1_000);
        timer.unref();
      },
      env: {
        SENDGRID_API_KEY: sendgrid.apiKey,
        SLUICE_SENDGRID_BASE_URL: sg.url,
        SLUICE_HOOK_SENDGRID_PUBLIC_KEY: sendgrid.publicKey,
        INSTANTLY_API_KEY: instantly.apiKey,
        SLUICE_INSTANTLY_BASE_URL: inst.url,
        SLUICE_HOOK_SENDGRID_INBOUND_TOKEN: inboundToken,
        SLUICE_HOOK_INSTANTLY_TOKEN: instantlyToken,
      },
      async stop() {
        clearInterval(timer);
        await ticking.catch(() => {});
        await Promise.all(running.map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.all(running.map((s) => s.close()));
    throw err;
  }
}
