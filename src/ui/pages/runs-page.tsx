/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import { int, short, time, usd } from '../format.ts';
import { Csrf, Simulated } from '../layout.tsx';
import {
  filterParams,
  RUN_STATES,
  type RunFilter,
  type RunListRow,
  type TimelineEntry,
} from '../queries/runs.ts';
import { Action, State } from './parts.tsx';

const iso = (d: Date | undefined) => (d ? d.toISOString().slice(0, 16) : '');

/** The filter form: a GET form, so the filter is the URL (bookmark it, share it, reload it). */
export function RunFilterForm(p: { f: RunFilter }) {
  const f = p.f;
  return (
    <form class="filters" method="get" action="/runs">
      <label>
        state
        <select name="state">
          <option value="">any</option>
          {RUN_STATES.map((s) => (
            <option value={s} selected={f.state === s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label>
        pipeline
        <input name="pipeline" value={f.pipeline ?? ''} size={12} />
      </label>
      <label>
        batch
        <input name="batch" value={f.batch?.toString() ?? ''} size={5} />
      </label>
      <label>
        error class
        <input name="error" value={f.error ?? ''} size={10} placeholder="throttled" />
      </label>
      <label>
        provider
        <input name="provider" value={f.provider ?? ''} size={10} placeholder="hunter" />
      </label>
      <label>
        created since (UTC)
        <input name="since" type="datetime-local" value={iso(f.since)} />
      </label>
      <label>
        until
        <input name="until" type="datetime-local" value={iso(f.until)} />
      </label>
      <label>
        search inputs and errors
        <input name="q" type="search" value={f.q ?? ''} size={18} placeholder="timeout, pinehills…" />
      </label>
      <button type="submit">Filter</button> <a href="/runs">clear</a>
    </form>
  );
}

export function RunsTable(p: { rows: RunListRow[]; simulated: (batch: number | null) => boolean }) {
  return (
    <table id="runs">
      <thead>
        <tr>
          <th>run</th>
          <th>batch</th>
          <th>record</th>
          <th>state</th>
          <th>error</th>
          <th class="num">calls</th>
          <th class="num">cache hits</th>
          <th class="num">cost</th>
          <th>created</th>
        </tr>
      </thead>
      <tbody>
        {p.rows.map((r) => (
          <tr>
            <td>
              <a href={`/runs/${r.id}`}>#{r.id}</a>
            </td>
            <td>
              {r.batchId ? <a href={`/batches/${r.batchId}`}>#{r.batchId}</a> : '-'}{' '}
              {p.simulated(r.batchId) ? <Simulated /> : null}
            </td>
            <td>
              <a href={`/records?type=account&id=${r.accountId}`}>
                {r.accountName ?? `account ${r.accountId}`}
              </a>
            </td>
            <td>
              <State s={r.state} />
            </td>
            <td class="muted">{r.errorClass ? `${r.errorClass}: ${short(r.error, 90)}` : ''}</td>
            <td class="num">{int(r.calls)}</td>
            <td class="num">{int(r.cacheHits)}</td>
            <td class="num">{usd(r.costUsd)}</td>
            <td>{time(r.createdAt)}</td>
          </tr>
        ))}
        {p.rows.length === 0 ? (
          <tr>
            <td colspan={9} class="muted">
              no run matches
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

/** Retry or cancel everything the filter matches (not just this page), with the filter as hidden fields. */
export function BulkActions(p: { f: RunFilter; matching: number; capped: boolean; csrf: string }) {
  const fields = filterParams(p.f);
  const hidden = Object.entries(fields).map(([k, v]) => <input type="hidden" name={k} value={v} />);
  return (
    <div class="bulk">
      <strong>
        {int(p.matching)}
        {p.capped ? '+' : ''} matching runs
      </strong>{' '}
      <form method="post" action="/runs/retry" class="inline">
        <Csrf token={p.csrf} />
        {hidden}
        <button type="submit" hx-confirm="Retry every failed run this filter matches?">
          Retry all matching failed runs
        </button>
      </form>{' '}
      <form method="post" action="/runs/cancel" class="inline">
        <Csrf token={p.csrf} />
        {hidden}
        <button type="submit" class="danger" hx-confirm="Cancel every queued run this filter matches?">
          Cancel all matching queued runs
        </button>
      </form>
    </div>
  );
}

type RunRow = RunListRow & {
  errors: unknown[];
  startedAt: Date | null;
  failedCalls: number;
  throttles: number;
  redrives: number;
};

export function RunDetail(p: { run: RunRow; timeline: TimelineEntry[]; csrf: string; simulated: boolean }) {
  const r = p.run;
  const redrivable = r.state === 'failed' || (r.state === 'partial' && r.failedCalls > 0);
  return (
    <div>
      {p.simulated ? (
        <p class="banner sim">Simulated: this run's batch used the sandbox's providers.</p>
      ) : null}
      <div class="cards">
        <div class="card">
          <h3>State</h3>
          <div class="big">
            <State s={r.state} />
          </div>
          {r.errorClass ? (
            <div>
              {r.errorClass}: {r.error}
            </div>
          ) : null}
          {redrivable ? (
            <Action action={`/runs/${r.id}/retry`} csrf={p.csrf} label="Retry what failed" />
          ) : null}
        </div>
        <div class="card">
          <h3>Record</h3>
          <a href={`/records?type=account&id=${r.accountId}`}>{r.accountName ?? `account ${r.accountId}`}</a>
          <div class="muted">
            pipeline {r.pipeline}
            {r.batchId ? (
              <>
                {' '}
                · batch <a href={`/batches/${r.batchId}`}>#{r.batchId}</a>
              </>
            ) : null}
          </div>
        </div>
        <div class="card">
          <h3>Calls and cost</h3>
          <div class="big">{usd(r.costUsd)}</div>
          <div>
            {int(r.calls)} calls, {int(r.cacheHits)} from the cache, {int(r.failedCalls)} failed,{' '}
            {int(r.throttles)} throttled
          </div>
          <div class="muted">
            {r.attempts} attempt(s), {r.redrives} redrive(s) · created {time(r.createdAt)} · finished{' '}
            {time(r.finishedAt)}
          </div>
        </div>
      </div>
      <h2>Timeline: steps and calls</h2>
      <table id="timeline">
        <thead>
          <tr>
            <th>time</th>
            <th>what</th>
            <th>status</th>
            <th>cache</th>
            <th class="num">latency</th>
            <th class="num">cost</th>
            <th>output / error</th>
          </tr>
        </thead>
        <tbody>
          {p.timeline.map((e) => (
            <tr class={e.kind}>
              <td>{time(e.at)}</td>
              <td>{e.kind === 'step' ? <strong>step {e.label}</strong> : <span>call {e.label}</span>}</td>
              <td>
                <State s={e.status.split(' ')[0]} />{' '}
                {e.status.includes(' ') ? e.status.slice(e.status.indexOf(' ')) : ''}
              </td>
              <td>{e.cache ?? ''}</td>
              <td class="num">{e.latencyMs !== undefined ? `${e.latencyMs} ms` : ''}</td>
              <td class="num">{usd(e.costUsd)}</td>
              <td>
                {e.error ? <span class="s-error">{e.error}</span> : null}
                {e.detail !== undefined ? (
                  <details>
                    <summary>output</summary>
                    <pre>{JSON.stringify(e.detail, null, 2)}</pre>
                  </details>
                ) : null}
              </td>
            </tr>
          ))}
          {p.timeline.length === 0 ? (
            <tr>
              <td colspan={7} class="muted">
                nothing ran yet
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      {Array.isArray(r.errors) && r.errors.length > 0 ? (
        <>
          <h2>Last errors</h2>
          <pre>{JSON.stringify(r.errors, null, 2)}</pre>
        </>
      ) : null}
    </div>
  );
}
