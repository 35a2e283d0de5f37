/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { SyncErrorRow } from '../../sync/sync-status.ts';
import type { HookRejection } from '../../webhooks/inbound/hook-rejections.ts';
import type { Attempt, Delivery } from '../../webhooks/webhook-store.ts';
import { short, time } from '../format.ts';
import { Action, State } from './parts.tsx';

export interface HookEventRow {
  id: number;
  source: string;
  eventId: string;
  state: string;
  attempts: number;
  error: string | null;
  receivedAt: Date;
  processedAt: Date | null;
}

export function DeliveriesView(p: {
  deliveries: Delivery[];
  events: HookEventRow[];
  rejections: HookRejection[];
  syncErrors: SyncErrorRow[];
  csrf: string;
  canWrite: boolean;
  state: string | undefined;
}) {
  return (
    <div>
      <h2>Outbound webhooks</h2>
      <p>
        {['', 'pending', 'failed', 'succeeded'].map((s) => (
          <>
            <a
              href={s ? `/deliveries?state=${s}` : '/deliveries'}
              class={(p.state ?? '') === s ? 'on' : undefined}
            >
              {s || 'all'}
            </a>{' '}
          </>
        ))}
      </p>
      <table id="deliveries">
        <thead>
          <tr>
            <th>delivery</th>
            <th>event</th>
            <th>endpoint</th>
            <th>state</th>
            <th class="num">attempts</th>
            <th>last answer</th>
            <th>created</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {p.deliveries.map((d) => (
            <tr>
              <td>
                <a href={`/deliveries/${d.id}`}>#{d.id}</a>
              </td>
              <td>{d.eventType}</td>
              <td>{short(d.url, 50)}</td>
              <td>
                <State s={d.state} />
              </td>
              <td class="num">{d.attempts}</td>
              <td class="muted">
                {d.lastStatus ? `HTTP ${d.lastStatus}` : ''} {short(d.lastError, 60)}
              </td>
              <td>{time(d.createdAt)}</td>
              <td>
                {p.canWrite && d.state !== 'pending' ? (
                  <Action action={`/deliveries/${d.id}/replay`} csrf={p.csrf} label="Replay" />
                ) : null}
              </td>
            </tr>
          ))}
          {p.deliveries.length === 0 ? (
            <tr>
              <td colspan={8} class="muted">
                no delivery
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <h2>Inbound events</h2>
      <p class="muted">
        Every stored event passed its source's signature or token check on receipt; a request that fails the
        check is answered 401, is not stored as an event, and is listed under refused requests below.
      </p>
      <table id="hook-events">
        <thead>
          <tr>
            <th>event</th>
            <th>source</th>
            <th>signature</th>
            <th>state</th>
            <th class="num">attempts</th>
            <th>error</th>
            <th>received</th>
          </tr>
        </thead>
        <tbody>
          {p.events.map((e) => (
            <tr>
              <td>
                #{e.id} <span class="muted">{short(e.eventId, 30)}</span>
              </td>
              <td>{e.source}</td>
              <td class="s-ok">verified</td>
              <td>
                <State s={e.state} />
              </td>
              <td class="num">{e.attempts}</td>
              <td class="muted">{short(e.error, 80)}</td>
              <td>{time(e.receivedAt)}</td>
            </tr>
          ))}
          {p.events.length === 0 ? (
            <tr>
              <td colspan={7} class="muted">
                no inbound event
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <h2>Refused inbound requests</h2>
      <p class="muted">
        Requests whose signature or URL token did not check out, newest first (the newest 1,000 per source are
        kept; tokens are never shown). After fixing a wrong secret, <code>sluice webhooks reverify ID</code>{' '}
        checks one again and stores it as an event if it verifies now.
      </p>
      <table id="hook-rejections">
        <thead>
          <tr>
            <th>request</th>
            <th>source</th>
            <th>signature</th>
            <th>reason</th>
            <th>call</th>
            <th class="num">bytes</th>
            <th>received</th>
          </tr>
        </thead>
        <tbody>
          {p.rejections.map((r) => (
            <tr>
              <td>#{r.id}</td>
              <td>{r.source}</td>
              <td class={r.acceptedEventId === null ? 's-failed' : 's-ok'}>
                {r.acceptedEventId === null ? 'refused' : `verified later: event #${r.acceptedEventId}`}
              </td>
              <td>{short(r.reason, 80)}</td>
              <td class="muted">
                {r.method} {short(r.url, 60)}
              </td>
              <td class="num">{r.bodyBytes}</td>
              <td>{time(r.receivedAt)}</td>
            </tr>
          ))}
          {p.rejections.length === 0 ? (
            <tr>
              <td colspan={7} class="muted">
                no refused request
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <h2>CRM sync records that did not sync</h2>
      <table id="sync-errors">
        <thead>
          <tr>
            <th>sync</th>
            <th>record</th>
            <th>status</th>
            <th class="num">failures</th>
            <th>error</th>
            <th>last try</th>
          </tr>
        </thead>
        <tbody>
          {p.syncErrors.map((e) => (
            <tr>
              <td>{e.syncName}</td>
              <td>
                <a href={`/records?type=${e.entityType}&id=${e.entityId}`}>
                  {e.entityType} {e.entityId}
                </a>
              </td>
              <td>
                <State s={e.status === 'permanent' ? 'failed' : 'pending'} /> {e.status}
              </td>
              <td class="num">{e.failures}</td>
              <td class="muted">{short(e.error, 100)}</td>
              <td>{time(e.updatedAt)}</td>
            </tr>
          ))}
          {p.syncErrors.length === 0 ? (
            <tr>
              <td colspan={6} class="muted">
                every synced record is up to date
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </div>
  );
}

export function DeliveryDetail(p: {
  d: Delivery & { payload: string; attemptLog: Attempt[] };
  csrf: string;
  canWrite: boolean;
}) {
  const d = p.d;
  return (
    <div>
      <p>
        <State s={d.state} /> · {d.eventType} → {d.url} · webhook-id <code>{d.messageId}</code> (the same on
        every retry and replay){' '}
        {p.canWrite && d.state !== 'pending' ? (
          <Action action={`/deliveries/${d.id}/replay`} csrf={p.csrf} label="Replay" />
        ) : null}
      </p>
      <h2>Attempts</h2>
      <table id="attempts">
        <thead>
          <tr>
            <th class="num">attempt</th>
            <th>started</th>
            <th class="num">duration</th>
            <th>answer</th>
            <th>outcome</th>
            <th>error / response</th>
          </tr>
        </thead>
        <tbody>
          {d.attemptLog.map((a) => (
            <tr>
              <td class="num">{a.attempt}</td>
              <td>{time(a.startedAt)}</td>
              <td class="num">{a.durationMs} ms</td>
              <td>{a.status ? `HTTP ${a.status}` : 'no answer'}</td>
              <td>
                <State s={a.outcome === 'succeeded' ? 'succeeded' : 'failed'} /> {a.outcome}
              </td>
              <td class="muted">{short(a.error ?? a.response, 120)}</td>
            </tr>
          ))}
          {d.attemptLog.length === 0 ? (
            <tr>
              <td colspan={6} class="muted">
                not attempted yet
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <h2>Payload (the exact bytes signed)</h2>
      <pre>{d.payload}</pre>
    </div>
  );
}
