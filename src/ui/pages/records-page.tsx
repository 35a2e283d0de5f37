/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { FieldLineage } from '../../records/lineage.ts';
import type { EntityType } from '../../records/record-fields.ts';
import { short, time, usd } from '../format.ts';
import { Csrf } from '../layout.tsx';
import {
  CELL_STATUSES,
  cellStatus,
  type RecordFilter,
  type RecordsPage,
  STALE_DAYS,
} from '../queries/records.ts';

const LABEL: Record<string, string> = {
  found: 'found',
  stale: 'stale',
  error: 'error',
  not_found: 'not found',
  not_run: 'not run',
};

export function RecordFilterForm(p: { f: RecordFilter }) {
  const f = p.f;
  return (
    <form class="filters" method="get" action="/records">
      <label>
        records
        <select name="type">
          <option value="account" selected={f.type === 'account'}>
            accounts
          </option>
          <option value="contact" selected={f.type === 'contact'}>
            contacts
          </option>
        </select>
      </label>
      <label>
        search
        <input name="q" type="search" value={f.q ?? ''} size={16} />
      </label>
      <label>
        field
        <input name="field" value={f.field ?? ''} size={10} placeholder="email" />
      </label>
      <fieldset>
        <legend class="muted">whose status is</legend>
        {CELL_STATUSES.map((s) => (
          <label class="inline">
            <input type="checkbox" name="status" value={s} checked={f.statuses?.includes(s) ?? false} />{' '}
            {LABEL[s]}
          </label>
        ))}
      </fieldset>
      <button type="submit">Filter</button> <a href={`/records?type=${f.type}`}>clear</a>
    </form>
  );
}

/** Records as a table; each cell says its status and opens the field's lineage (a drawer with htmx). */
export function RecordsTable(p: { type: EntityType; page: RecordsPage }) {
  const { page, type } = p;
  return (
    <table id="records">
      <thead>
        <tr>
          <th>id</th>
          {page.fields.map((f) => (
            <th>{f}</th>
          ))}
          <th>latest run</th>
        </tr>
      </thead>
      <tbody>
        {page.records.map((r) => {
          const run = page.latestRun.get(r.id);
          const prov = page.provenance.get(r.id);
          return (
            <tr>
              <td>{r.id}</td>
              {page.fields.map((f) => {
                const status = cellStatus(r[f], prov?.get(f), run);
                const href = `/records/${type}/${r.id}/lineage/${encodeURIComponent(f)}`;
                return (
                  <td class={`cell s-${status}`} data-status={status} title={LABEL[status]}>
                    <a href={href} hx-get={`${href}?fragment=1`} hx-target="#drawer" hx-swap="innerHTML">
                      {status === 'found' || status === 'stale' ? short(r[f], 40) : <em>{LABEL[status]}</em>}
                      {status === 'stale' ? ' (stale)' : ''}
                    </a>
                  </td>
                );
              })}
              <td>
                {run ? (
                  <a href={`/runs/${run.id}`}>
                    #{run.id} <span class={`s-${run.state}`}>{run.state}</span>
                  </a>
                ) : (
                  <span class="muted">none</span>
                )}{' '}
                {type === 'account' ? (
                  <a
                    href={`/start/forecast?scope=where&where=${encodeURIComponent(`id=${r.id}`)}`}
                    title="re-enrich this record: the forecast cost is shown before anything runs"
                  >
                    re-enrich
                  </a>
                ) : null}
              </td>
            </tr>
          );
        })}
        {page.records.length === 0 ? (
          <tr>
            <td colspan={page.fields.length + 2} class="muted">
              no record matches
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

export function StatusLegend() {
  return (
    <p class="muted">
      Cell status: <span class="s-found">found</span> · <span class="s-stale">stale</span> (current value
      observed more than {STALE_DAYS} days ago) · <span class="s-error">error</span> (empty; the latest run
      failed) · <span class="s-not_found">not found</span> (empty; the latest run finished without it) ·{' '}
      <span class="s-not_run">not run</span>. Click a cell for its lineage.
    </p>
  );
}

/** Every observed value of one field, the current one first, and the form that edits it by hand. */
export function LineageDrawer(p: {
  type: EntityType;
  id: number;
  field: string;
  name: string;
  lineage: FieldLineage | undefined;
  csrf: string;
  canWrite: boolean;
}) {
  const l = p.lineage;
  const current = l?.values.find((v) => v.current);
  return (
    <div class="lineage" id="lineage">
      <p>
        <button type="button" data-close-drawer="1">
          close ✕
        </button>
      </p>
      <h2>
        {p.name} · {p.field}
      </h2>
      {l ? (
        <p>
          current value: <strong>{short(current?.value, 200) || '(empty)'}</strong> — {l.why}
        </p>
      ) : (
        <p class="muted">no value was ever observed for this field</p>
      )}
      <table>
        <thead>
          <tr>
            <th>value</th>
            <th>source</th>
            <th>provider / operation</th>
            <th>run</th>
            <th class="num">cost</th>
            <th class="num">confidence</th>
            <th>observed</th>
          </tr>
        </thead>
        <tbody>
          {(l?.values ?? []).map((v) => (
            <tr class={v.current ? 'current' : undefined}>
              <td>{v.current ? <strong>{short(v.value, 60)} ✓ current</strong> : short(v.value, 60)}</td>
              <td>{v.source}</td>
              <td>{v.provider ? `${v.provider}${v.operation ? ` / ${v.operation}` : ''}` : '-'}</td>
              <td>
                {v.runId ? (
                  <a href={`/runs/${v.runId}`}>#{v.runId}</a>
                ) : v.importId ? (
                  `import ${v.importId}`
                ) : (
                  '-'
                )}
              </td>
              <td class="num">{usd(v.costUsd)}</td>
              <td class="num">{v.confidence === null ? '-' : v.confidence.toFixed(2)}</td>
              <td>{time(v.observedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {p.canWrite ? (
        <form
          method="post"
          action={`/records/${p.type}/${p.id}/fields/${encodeURIComponent(p.field)}`}
          id="edit-value"
        >
          <Csrf token={p.csrf} />
          <h3>Edit by hand</h3>
          <p class="muted">
            A manual value beats every other source (it becomes <code>manual</code> in the lineage). Leave it
            empty to record "this field is empty".
          </p>
          <input name="value" value={typeof current?.value === 'string' ? current.value : ''} size={40} />{' '}
          <button type="submit" class="primary">
            Save
          </button>
        </form>
      ) : null}
    </div>
  );
}
