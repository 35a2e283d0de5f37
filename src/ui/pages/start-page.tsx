/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { Forecast } from '../../engine/forecast.ts';
import { duration, int, usd } from '../format.ts';
import { Csrf } from '../layout.tsx';
import type { ImportSummary, Scope } from '../queries/start-work.ts';

export function UploadForm(p: { csrf: string; limitMb: number }) {
  return (
    <form method="post" action="/start/import" enctype="multipart/form-data" id="upload">
      <Csrf token={p.csrf} />
      <h2>1. Upload a CSV</h2>
      <p>
        <input type="file" name="file" accept=".csv,text/csv" required />{' '}
        <select name="kind">
          <option value="">accounts or contacts (detected from the headers)</option>
          <option value="accounts">accounts</option>
          <option value="contacts">contacts</option>
        </select>{' '}
        <button type="submit" class="primary">
          Import
        </button>
      </p>
      <p class="muted">
        The same importer as <code>sluice import</code>: header mapping, normalization, dedupe; rejected lines
        are listed with their reason and the rest imports. Up to {p.limitMb} MB here (larger:{' '}
        <code>sluice import</code> or <code>POST /v1/imports</code>).
      </p>
    </form>
  );
}

export function ImportResult(p: { imp: ImportSummary; accounts: number }) {
  const i = p.imp;
  return (
    <section id="import-summary">
      <h2>Imported {i.file.split('/').pop()}</h2>
      <p>
        {int(i.rowsRead)} {i.kind} read: <strong>{int(i.inserted)} new</strong>, {int(i.merged)} merged,{' '}
        {int(i.unchanged)} unchanged,{' '}
        <span class={i.rejected > 0 ? 's-failed' : undefined}>{int(i.rejected)} rejected</span>
        {' · '}
        {int(p.accounts)} accounts to enrich from this file
      </p>
      {i.errors.length > 0 ? (
        <table id="rejected">
          <thead>
            <tr>
              <th class="num">line</th>
              <th>why it was rejected</th>
            </tr>
          </thead>
          <tbody>
            {i.errors.slice(0, 200).map((e) => (
              <tr>
                <td class="num">{e.line}</td>
                <td>{e.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {i.errors.length > 200 ? <p class="muted">first 200 of {int(i.errors.length)} listed</p> : null}
    </section>
  );
}

export interface StartChoice {
  pipeline: string;
  scope: Scope;
  budget: string;
}

const scopeValue = (s: Scope) => (s.kind === 'import' ? `import:${s.importId}` : s.kind);

/** Pick a pipeline, what to run on and a budget; "Forecast" is a GET (nothing is spent). */
export function ChooseForm(p: { pipelines: string[]; choice: StartChoice; importId?: number }) {
  const c = p.choice;
  return (
    <form method="get" action="/start/forecast" id="choose">
      <h2>2. Pick a pipeline, the records and a budget</h2>
      <p>
        <label>
          pipeline{' '}
          <select name="pipeline">
            {p.pipelines.map((n) => (
              <option value={n} selected={n === c.pipeline}>
                {n}
              </option>
            ))}
          </select>
        </label>{' '}
        <label>
          records{' '}
          <select name="scope">
            {p.importId ? (
              <option
                value={`import:${p.importId}`}
                selected={scopeValue(c.scope) === `import:${p.importId}`}
              >
                the accounts of import {p.importId}
              </option>
            ) : null}
            <option value="all" selected={c.scope.kind === 'all'}>
              every account
            </option>
            <option value="where" selected={c.scope.kind === 'where'}>
              accounts matching the filter →
            </option>
          </select>
        </label>{' '}
        <label>
          filter{' '}
          <input
            name="where"
            size={22}
            placeholder="state=VA and phone is empty"
            value={c.scope.kind === 'where' ? c.scope.where : ''}
          />
        </label>{' '}
        <label>
          budget USD <input name="budget" type="number" min="0" step="0.01" size={7} value={c.budget} />
        </label>{' '}
        <button type="submit">Forecast (dry run)</button>
      </p>
    </form>
  );
}

export function ForecastView(p: { f: Forecast; choice: StartChoice; csrf: string; warning?: string }) {
  const { f, choice } = p;
  const over = choice.budget !== '' && f.costUsd > Number(choice.budget);
  return (
    <section id="forecast">
      <h2>3. Forecast: nothing is spent yet</h2>
      {f.note ? <p class="muted">{f.note}</p> : null}
      {p.warning ? <p class="notice error">{p.warning}</p> : null}
      <table>
        <thead>
          <tr>
            <th>call</th>
            <th class="num">calls</th>
            <th class="num">cached</th>
            <th class="num">paid</th>
            <th class="num">cost</th>
            <th>limit</th>
            <th class="num">at least</th>
          </tr>
        </thead>
        <tbody>
          {f.lines.map((l) => (
            <tr>
              <td>
                {l.provider}/{l.operation}
              </td>
              <td class="num">{int(l.calls)}</td>
              <td class="num">{int(l.cached)}</td>
              <td class="num">{int(l.paidCalls)}</td>
              <td class="num">{usd(l.costUsd)}</td>
              <td>{l.limit ?? '-'}</td>
              <td class="num">{duration(l.minSeconds)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        <strong>
          {int(f.records)} records · {int(f.paidCalls)} paid calls · expected {usd(f.costUsd)} · at least{' '}
          {duration(f.seconds)}
        </strong>{' '}
        (rate limits)
      </p>
      {over ? (
        <p class="notice error">
          The forecast is over the budget of ${choice.budget}: the batch will stop when the budget is reached.
        </p>
      ) : null}
      <form method="post" action="/start/batch" id="start">
        <Csrf token={p.csrf} />
        <input type="hidden" name="pipeline" value={choice.pipeline} />
        <input type="hidden" name="scope" value={scopeValue(choice.scope)} />
        <input type="hidden" name="where" value={choice.scope.kind === 'where' ? choice.scope.where : ''} />
        <input type="hidden" name="budget" value={choice.budget} />
        <button type="submit" class="primary" disabled={f.records === 0}>
          Start {int(f.records)} runs
          {choice.budget ? ` with a budget of $${choice.budget}` : ' without a budget'}
        </button>
      </form>
    </section>
  );
}
