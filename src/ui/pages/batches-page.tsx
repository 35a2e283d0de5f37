/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { BatchProgress } from '../../engine/batch.ts';
import { duration, int, pct, time, usd } from '../format.ts';
import { Simulated } from '../layout.tsx';
import { type BatchRow, type BatchState, etaSeconds, type OpenForecast } from '../queries/batches.ts';
import { Action, Progress, State } from './parts.tsx';

function Budget(p: { cost: number; budget: number | null }) {
  return (
    <span>
      {usd(p.cost)}
      {p.budget !== null ? (
        <span class="muted">
          {' '}
          of {usd(p.budget)} ({pct(p.cost, p.budget)})
        </span>
      ) : (
        <span class="muted"> (no budget)</span>
      )}
    </span>
  );
}

export function BatchesTable(p: { rows: BatchRow[]; simulated: (id: number) => boolean }) {
  return (
    <table id="batches">
      <thead>
        <tr>
          <th>batch</th>
          <th>pipeline</th>
          <th>status</th>
          <th>progress</th>
          <th>cost vs budget</th>
          <th>ETA</th>
          <th>started</th>
        </tr>
      </thead>
      <tbody>
        {p.rows.map((b) => (
          <tr>
            <td>
              <a href={`/batches/${b.id}`}>#{b.id}</a> {p.simulated(b.id) ? <Simulated /> : null}
            </td>
            <td>{b.pipeline}</td>
            <td>
              <State s={b.status} />
              {b.stopReason ? <div class="muted">{b.stopReason}</div> : null}
            </td>
            <td>
              <Progress counts={b.counts} total={b.total} />
            </td>
            <td>
              <Budget cost={b.costUsd} budget={b.budgetUsd} />
            </td>
            <td>{duration(etaSeconds(b))}</td>
            <td>{time(b.createdAt)}</td>
          </tr>
        ))}
        {p.rows.length === 0 ? (
          <tr>
            <td colspan={7} class="muted">
              no batch yet: start one on <a href="/start">Start work</a> or with <code>sluice run</code>
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

export type BatchDetail = {
  batch: BatchRow;
  /** The forecast of the open runs (running batches). */
  forecast?: OpenForecast | undefined;
  progress: BatchProgress;
  budget: { limitUsd: number; spentUsd: number; reservedUsd: number } | undefined;
  breakdown: {
    errors: { errorClass: string; n: number; example: string | null }[];
    providers: {
      provider: string;
      operation: string;
      requests: number;
      hits: number;
      cost: number;
      saved: number;
    }[];
  };
};

/** The live part of a batch page: progress, money, stop reason, errors, spend by provider. */
export function BatchBody(p: { d: BatchDetail }) {
  const { batch: b, progress: g, budget, breakdown, forecast: f } = p.d;
  const pace = etaSeconds(b);
  return (
    <div>
      <div class="cards">
        <div class="card">
          <h3>Status</h3>
          <div class="big">
            <State s={g.status} />
          </div>
          {g.stopReason ? <div id="stop-reason">stopped: {g.stopReason}</div> : null}
          <div class="muted">
            started {time(b.createdAt)}
            {b.finishedAt ? ` · finished ${time(b.finishedAt)}` : ''}
          </div>
        </div>
        <div class="card">
          <h3>Progress</h3>
          <Progress counts={b.counts} total={g.total} />
          <div id="eta">
            {pace !== null
              ? `ETA at the pace of the last 5 minutes: ${duration(pace)}`
              : f
                ? `ETA from the forecast: at least ${duration(f.seconds)} (the providers' rate limits; no run finished in the last 5 minutes yet)`
                : `ETA at the pace of the last 5 minutes: ${duration(pace)}`}
          </div>
          {f ? (
            <div class="muted" id="forecast-left">
              forecast of the {int(f.open)} open runs
              {f.sampled < f.open ? ` (from the first ${int(f.sampled)})` : ''}: ≤ {int(f.paidCalls)} paid
              calls, ≤ {usd(f.costUsd)}, at least {duration(f.seconds)} at the rate limits
            </div>
          ) : null}
        </div>
        <div class="card">
          <h3>Cost vs budget</h3>
          <div class="big">{usd(b.costUsd)}</div>
          <Budget cost={b.costUsd} budget={b.budgetUsd} />
          {budget ? (
            <div class="muted">
              budget ledger: {usd(budget.spentUsd)} spent, {usd(budget.reservedUsd)} reserved
            </div>
          ) : null}
          <div class="muted">
            {int(g.calls)} calls, {int(g.cacheHits)} from the cache
          </div>
        </div>
      </div>
      <h2>What failed</h2>
      <table>
        <thead>
          <tr>
            <th>error class</th>
            <th class="num">runs</th>
            <th>example</th>
          </tr>
        </thead>
        <tbody>
          {breakdown.errors.map((e) => (
            <tr>
              <td>
                <a href={`/runs?batch=${b.id}&error=${encodeURIComponent(e.errorClass)}`}>{e.errorClass}</a>
              </td>
              <td class="num">{int(e.n)}</td>
              <td class="muted">{e.example ?? ''}</td>
            </tr>
          ))}
          {breakdown.errors.length === 0 ? (
            <tr>
              <td colspan={3} class="muted">
                nothing failed
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <h2>Spend by provider</h2>
      <table>
        <thead>
          <tr>
            <th>provider / operation</th>
            <th class="num">requests</th>
            <th class="num">cache hits</th>
            <th class="num">cost</th>
            <th class="num">saved</th>
          </tr>
        </thead>
        <tbody>
          {breakdown.providers.map((x) => (
            <tr>
              <td>
                {x.provider} / {x.operation}
              </td>
              <td class="num">{int(x.requests)}</td>
              <td class="num">{int(x.hits)}</td>
              <td class="num">{usd(x.cost)}</td>
              <td class="num">{usd(x.saved)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function BatchActions(p: { b: BatchRow; csrf: string; state: BatchState }) {
  const { b } = p;
  return (
    <p class="actions">
      {b.status === 'running' ? (
        <Action
          action={`/batches/${b.id}/stop`}
          csrf={p.csrf}
          label="Stop"
          danger
          confirm="Stop this batch?"
        />
      ) : null}{' '}
      {b.status === 'stopped' || p.state.queued > 0 ? (
        <Action action={`/batches/${b.id}/resume`} csrf={p.csrf} label="Resume">
          <label>
            budget USD{' '}
            <input
              name="budget"
              type="number"
              min="0"
              step="0.01"
              size={6}
              placeholder={b.budgetUsd?.toString() ?? ''}
            />
          </label>{' '}
        </Action>
      ) : null}{' '}
      {p.state.redrivable > 0 ? (
        <Action
          action={`/batches/${b.id}/rerun-failed`}
          csrf={p.csrf}
          label={`Rerun only what failed (${p.state.redrivable} runs)`}
        />
      ) : null}{' '}
      <a href={`/runs?batch=${b.id}`}>runs</a> · <a href={`/spend?batch=${b.id}`}>spend by record</a>
    </p>
  );
}
