/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { Hono } from 'hono';
import { allows } from '../../api-keys/api-keys.ts';
import { syncErrors } from '../../sync/sync-status.ts';
import { listHookRejections } from '../../webhooks/inbound/hook-rejections.ts';
import { listDeliveries, replayDelivery, showDelivery } from '../../webhooks/webhook-store.ts';
import { pageFrame } from '../frame.ts';
import { DeliveriesView, DeliveryDetail, type HookEventRow } from '../pages/deliveries-page.tsx';
import { Flash, Live, renderFragment, renderPage, wantsFragment } from '../render.tsx';
import { requireSession, UiError } from '../ui-auth.ts';
import type { UiEnv } from '../ui-env.ts';
import { doneRedirect, positiveInt } from './route-helpers.ts';

const STATES = ['pending', 'succeeded', 'failed'];

export function registerDeliveryRoutes(ui: Hono<UiEnv>): void {
  ui.get('/deliveries', requireSession(), async (c) => {
    const db = c.get('services').db;
    const state = c.req.query('state') || undefined;
    if (state && !STATES.includes(state))
      throw new UiError(400, `state must be one of ${STATES.join(', ')}, got "${state}"`);
    const deliveries = await listDeliveries(db, { limit: 50, ...(state ? { state } : {}) });
    const events = await db.query<HookEventRow>(
      `SELECT id, source, event_id AS "eventId", state, attempts, error, received_at AS "receivedAt",
              processed_at AS "processedAt"
         FROM hook_events ORDER BY received_at DESC, id DESC LIMIT 50`,
    );
    const session = c.get('session');
    const body = (
      <DeliveriesView
        deliveries={deliveries}
        events={events.rows}
        rejections={await listHookRejections(db, { limit: 20 })}
        syncErrors={await syncErrors(db, undefined, 50)}
        csrf={session.csrf}
        canWrite={allows(session.apiKey.scopes, 'write')}
        state={state}
      />
    );
    if (wantsFragment(c)) return renderFragment(c, body);
    const frame = await pageFrame(c, 'Deliveries', '/deliveries');
    return renderPage(
      c,
      frame,
      <>
        <Flash c={c} />
        <Live id="deliveries-live" src={state ? `/deliveries?state=${state}` : '/deliveries'} every={5}>
          {body}
        </Live>
      </>,
    );
  });

  ui.get('/deliveries/:id', requireSession(), async (c) => {
    const id = positiveInt(c.req.param('id'), 'delivery id');
    const d = await showDelivery(c.get('services').db, id);
    if (!d) throw new UiError(404, `delivery ${id} does not exist`);
    const session = c.get('session');
    const body = (
      <DeliveryDetail d={d} csrf={session.csrf} canWrite={allows(session.apiKey.scopes, 'write')} />
    );
    if (wantsFragment(c)) return renderFragment(c, body);
    const frame = await pageFrame(c, `Delivery ${id}`, '/deliveries');
    return renderPage(
      c,
      frame,
      <>
        <Flash c={c} />
        <Live id="delivery-live" src={`/deliveries/${id}`} every={2}>
          {body}
        </Live>
      </>,
    );
  });

  ui.post('/deliveries/:id/replay', requireSession('write'), async (c) => {
    const id = positiveInt(c.req.param('id'), 'delivery id');
    if (!(await replayDelivery(c.get('services').db, id)))
      throw new UiError(404, `delivery ${id} does not exist`);
    return doneRedirect(c, `/deliveries/${id}`, `delivery ${id} sent again now, with the same webhook-id`);
  });
}
