/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { PositionStat } from '../../learning/deployment-stats.ts';
import { int, pct, time, usd } from '../format.ts';
import { LATENCY_SAMPLE, type OperationStats, type ProviderHealth } from '../queries/providers.ts';

const future = (d: Date | null) => d !== null && new Date(d).getTime() > Date.now();

export function ProvidersView(p: {
  ops: OperationStats[];
  health: ProviderHealth[];
  positions: PositionStat[];
  batch: number | null;
}) {
  return (
    <div>
      <h2>Per provider and operation</h2>
      <table id="operations">
        <thead>
          <tr>
            <th>provider / operation</th>
            <th class="num">requests</th>
            <th class="num">hit rate</th>
            <th>errors by class</th>
            <th class="num">throttles</th>
            <th class="num">cost</th>
            <th class="num">cost per found value</th>
            <th class="num">cache hits</th>
            <th class="num">saved</th>
          </tr>
        </thead>
        <tbody>
          {p.ops.map((o) => (
            <tr>
              <td>
                {o.provider} / {o.operation}
              </td>
              <td class="num">{int(o.requests)}</td>
              <td class="num" title={`${o.found} found of ${o.found + o.notFound} answered`}>
                {pct(o.found, o.found + o.notFound)}
              </td>
              <td class="muted">
                {Object.entries(o.errorsByClass)
                  .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
                  .map(([k, v]) => `${k} ${v}`)
                  .join(', ') || '-'}
              </td>
              <td class="num">{int(o.throttles)}</td>
              <td class="num">{usd(o.costUsd)}</td>
              <td class="num">{o.found > 0 ? usd(o.costUsd / o.found) : '-'}</td>
              <td class="num">{int(o.cacheHits)}</td>
              <td class="num">{usd(o.savedUsd)}</td>
            </tr>
          ))}
          {p.ops.length === 0 ? (
            <tr>
              <td colspan={9} class="muted">
                no call yet
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <h2>Health and headroom</h2>
      <table id="provider-health">
        <thead>
          <tr>
            <th>provider</th>
            <th class="num">p50 latency</th>
            <th class="num">p95 latency</th>
            <th>circuit</th>
            <th>today's cap</th>
            <th>last error</th>
          </tr>
        </thead>
        <tbody>
          {p.health.map((h) => (
            <tr>
              <td>{h.provider}</td>
              <td class="num">{h.p50Ms === null ? '-' : `${Math.round(h.p50Ms)} ms`}</td>
              <td class="num">{h.p95Ms === null ? '-' : `${Math.round(h.p95Ms)} ms`}</td>
              <td>
                {future(h.exhaustedUntil) ? (
                  <span class="s-failed">quota used up until {time(h.exhaustedUntil)}</span>
                ) : future(h.openUntil) ? (
                  <span class="s-failed">open until {time(h.openUntil)}</span>
                ) : future(h.pausedUntil) ? (
                  <span class="s-stale">paused (slow down) until {time(h.pausedUntil)}</span>
                ) : (
                  <span class="s-ok">closed</span>
                )}
                {h.failures > 0 ? <span class="muted"> · {h.failures} failures in a row</span> : null}
              </td>
              <td>
                {h.capUsd === null
                  ? 'none'
                  : `${usd(h.capSpentUsd)} of ${usd(h.capUsd)} (${usd(Math.max(0, h.capUsd - (h.capSpentUsd ?? 0)))} left)`}
              </td>
              <td class="muted">{h.lastError ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">Latency percentiles over each provider's latest {int(LATENCY_SAMPLE)} requests.</p>
      <h2>Waterfalls{p.batch ? ` in batch ${p.batch}` : ''}: how often each position wins</h2>
      <table id="positions">
        <thead>
          <tr>
            <th>step</th>
            <th class="num">position</th>
            <th>provider / operation</th>
            <th class="num">tried</th>
            <th class="num">won</th>
            <th class="num">win rate</th>
            <th class="num">not found</th>
            <th class="num">errors</th>
          </tr>
        </thead>
        <tbody>
          {p.positions.map((x) => (
            <tr>
              <td>{x.step}</td>
              <td class="num">{x.position}</td>
              <td>
                {x.provider} / {x.operation}
              </td>
              <td class="num">{int(x.tried)}</td>
              <td class="num">{int(x.wins)}</td>
              <td class="num">{pct(x.wins, x.tried)}</td>
              <td class="num">{int(x.notFound)}</td>
              <td class="num">{int(x.errors)}</td>
            </tr>
          ))}
          {p.positions.length === 0 ? (
            <tr>
              <td colspan={8} class="muted">
                {p.batch ? 'no waterfall ran in this batch' : 'no batch yet'}
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </div>
  );
}
