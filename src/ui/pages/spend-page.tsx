/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import { int, usd } from '../format.ts';
import { SPEND_BY, type SpendBy, type SpendRow } from '../queries/spend.ts';

export function SpendView(p: { by: SpendBy; rows: SpendRow[]; batch?: number }) {
  const q = (by: string) => `by=${by}${p.batch ? `&batch=${p.batch}` : ''}`;
  const total = p.rows.reduce((s, r) => s + r.costUsd, 0);
  return (
    <div>
      <p>
        {p.batch ? (
          <>
            Batch <a href={`/batches/${p.batch}`}>#{p.batch}</a> ·{' '}
          </>
        ) : (
          'Last 31 days · '
        )}
        by{' '}
        {SPEND_BY.filter((b) => b !== 'record' || p.batch).map((b) => (
          <>
            <a href={`/spend?${q(b)}`} class={b === p.by ? 'on' : undefined}>
              {b}
            </a>{' '}
          </>
        ))}
        · <a href={`/spend.csv?${q(p.by)}`}>CSV</a>
      </p>
      <table id="spend">
        <thead>
          <tr>
            <th>{p.by}</th>
            <th class="num">{p.by === 'record' ? 'calls' : 'requests'}</th>
            <th class="num">cost</th>
            <th class="num">saved by the cache</th>
          </tr>
        </thead>
        <tbody>
          {p.rows.map((r) => (
            <tr>
              <td>{r.href ? <a href={r.href}>{r.key}</a> : r.key}</td>
              <td class="num">{int(r.requests)}</td>
              <td class="num">{usd(r.costUsd)}</td>
              <td class="num">{p.by === 'record' ? '' : usd(r.savedUsd)}</td>
            </tr>
          ))}
          {p.rows.length === 0 ? (
            <tr>
              <td colspan={4} class="muted">
                nothing spent
              </td>
            </tr>
          ) : null}
        </tbody>
        <tfoot>
          <tr>
            <th>total</th>
            <th></th>
            <th class="num">{usd(total)}</th>
            <th></th>
          </tr>
        </tfoot>
      </table>
    </div>
  );
}
