/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import { duration, int, pct, time, usd } from '../format.ts';
import type { Overview } from '../queries/overview.ts';

const STATES = ['queued', 'running', 'enriched', 'partial', 'failed'] as const;

/** The live part of the overview (polled by htmx every few seconds; complete without JavaScript). */
export function OverviewBody(p: { o: Overview }) {
  const { o } = p;
  const h = o.health;
  const lookups = o.cache.hits + o.cache.misses;
  return (
    <div>
      <div class="cards">
        <div class="card" id="runs-by-state">
          <h3>Runs by state</h3>
          <table>
            <tbody>
              {STATES.map((s) => (
                <tr>
                  <td class={`s-${s}`}>
                    <a href={`/runs?state=${s}`}>{s}</a>
                  </td>
                  <td class="num">{int(o.runsByState[s] ?? 0)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div class="card" id="spend">
          <h3>Spend</h3>
          <div class="big">{usd(o.spend.todayUsd)}</div>
          <div>
            today (UTC){' '}
            {o.spend.todayCapUsd !== null
              ? `· daily provider caps ${usd(o.spend.todayCapUsd)} (${pct(o.spend.todayCapSpentUsd ?? 0, o.spend.todayCapUsd)} used)`
              : '· no daily provider cap set'}
          </div>
          <div>
            {usd(o.spend.monthUsd)} this month <span class="muted">· batch budgets on the Batches page</span>
          </div>
        </div>
        <div class="card" id="cache">
          <h3>Cache</h3>
          <div class="big">{pct(o.cache.hits, lookups)}</div>
          <div>
            hit rate ({int(o.cache.hits)} of {int(lookups)} lookups)
          </div>
          <div>
            {usd(o.cache.savedUsd)} saved · today {usd(o.cache.todaySavedUsd)}
          </div>
        </div>
        <div class="card" id="queue">
          <h3>Queue</h3>
          <div class="big">{int(h.queue.queuedRuns)}</div>
          <div>
            queued · {int(h.queue.runningRuns)} running · oldest queued{' '}
            {duration(h.queue.oldestQueuedSeconds)}
          </div>
          <div>
            workers seen: {h.workers.seen} ({h.workers.serve} serve, {h.workers.worker} worker){' '}
            <span class={`s-${h.status === 'ok' ? 'ok' : h.status === 'down' ? 'down' : 'stale'}`}>
              {h.status}
            </span>
          </div>
          <div class="muted">database {h.database.latencyMs ?? '-'} ms</div>
        </div>
        <div class="card" id="webhooks">
          <h3>Webhooks and inbound events</h3>
          <div>
            outbound: {int(o.webhooks.pending)} pending, {int(o.webhooks.failed24h)} failed and{' '}
            {int(o.webhooks.succeeded24h)} delivered in 24 h
            {o.webhooks.disabledEndpoints > 0 ? (
              <span class="s-failed"> · {o.webhooks.disabledEndpoints} endpoint(s) disabled</span>
            ) : null}
          </div>
          <div>
            inbound: {int(o.inbound.pending)} pending, {int(o.inbound.failed24h)} failed,{' '}
            {int(o.inbound.processed24h)} processed in 24 h
          </div>
          <a href="/deliveries">Deliveries</a>
        </div>
        <div class="card" id="syncs">
          <h3>CRM syncs</h3>
          {o.syncs.length === 0 ? <div class="muted">no sync has run</div> : null}
          {o.syncs.map((s) => (
            <div>
              {s.syncName} → {s.destination}: {int(s.ok)} ok, {int(s.retryable)} retrying,{' '}
              <span class={s.permanent > 0 ? 's-failed' : undefined}>{int(s.permanent)} failed</span>
              {s.lastRun ? (
                <span class="muted">
                  {' '}
                  · last run {s.lastRun.status} {time(s.lastRun.startedAt)}
                </span>
              ) : null}
            </div>
          ))}
        </div>
      </div>
    </div>
  );
}

/** Throughput over the last 24 hours: a uPlot chart, and the same figures as a table. */
export function Throughput(p: { o: Overview }) {
  const rows = p.o.throughput;
  const spec = {
    series: ['runs finished', 'provider requests'],
    data: [rows.map((r) => r.hour.getTime() / 1000), rows.map((r) => r.runs), rows.map((r) => r.requests)],
  };
  return (
    <section>
      <h2>Throughput, last 24 hours (per hour)</h2>
      <div class="chart" id="throughput-chart" data-chart={JSON.stringify(spec)}></div>
      <details>
        <summary>figures</summary>
        <table>
          <thead>
            <tr>
              <th>hour (UTC)</th>
              <th class="num">runs finished</th>
              <th class="num">provider requests</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr>
                <td>{time(r.hour)}</td>
                <td class="num">{int(r.runs)}</td>
                <td class="num">{int(r.requests)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </section>
  );
}
