/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { DeadRun } from '../../engine/dead-letter.ts';
import { int, short, time, usd } from '../format.ts';
import { Csrf } from '../layout.tsx';
import type { DeadGroup } from '../queries/dead-letters.ts';

function IdsForm(p: {
  action: string;
  ids: number[];
  csrf: string;
  label: string;
  danger?: boolean;
  confirm?: string;
}) {
  return (
    <form method="post" action={p.action} class="inline">
      <Csrf token={p.csrf} />
      {p.ids.map((id) => (
        <input type="hidden" name="id" value={String(id)} />
      ))}
      <button type="submit" class={p.danger ? 'danger' : undefined} hx-confirm={p.confirm}>
        {p.label}
      </button>
    </form>
  );
}

export function DeadLetters(p: { groups: DeadGroup[]; runs: DeadRun[]; csrf: string; canAct: boolean }) {
  return (
    <div>
      <h2>Grouped by error class, step and provider</h2>
      <table id="dead-groups">
        <thead>
          <tr>
            <th>error class</th>
            <th>failed step</th>
            <th>provider of the failed call</th>
            <th class="num">runs</th>
            <th class="num">redrive forecast</th>
            <th>example</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {p.groups.map((g) => (
            <tr>
              <td>
                <a href={`/runs?error=${encodeURIComponent(g.errorClass)}`}>{g.errorClass}</a>
              </td>
              <td>{g.step}</td>
              <td>{g.provider === '-' ? '-' : `${g.provider} / ${g.operation}`}</td>
              <td class="num">{int(g.runs)}</td>
              <td class="num" title="one paid call per run at the operation's price (cache hits cost less)">
                {g.forecastUsd === null ? '-' : `≤ ${usd(g.forecastUsd)}`}
              </td>
              <td class="muted">{short(g.example, 100)}</td>
              <td>
                {p.canAct ? (
                  <>
                    <IdsForm
                      action="/dead-letters/redrive"
                      ids={g.ids}
                      csrf={p.csrf}
                      label={`Redrive ${g.ids.length}`}
                    />{' '}
                    <IdsForm
                      action="/dead-letters/discard"
                      ids={g.ids}
                      csrf={p.csrf}
                      label="Discard"
                      danger
                      confirm="Discard these runs without running them again?"
                    />
                  </>
                ) : (
                  <span class="muted">needs an admin key</span>
                )}
              </td>
            </tr>
          ))}
          {p.groups.length === 0 ? (
            <tr>
              <td colspan={7} class="muted">
                no dead letters
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <h2>Latest dead runs</h2>
      <table id="dead-runs">
        <thead>
          <tr>
            <th>run</th>
            <th>record</th>
            <th>state</th>
            <th>reason</th>
            <th class="num">attempts</th>
            <th>failed at</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {p.runs.map((r) => (
            <tr>
              <td>
                <a href={`/runs/${r.runId}`}>#{r.runId}</a>
              </td>
              <td>{r.accountName ?? `account ${r.accountId}`}</td>
              <td class={`s-${r.state}`}>{r.state}</td>
              <td class="muted">
                {r.errorClass ?? ''} {short(r.reason, 100)}
              </td>
              <td class="num">{r.attempts}</td>
              <td>{time(r.failedAt)}</td>
              <td>
                {p.canAct ? (
                  <IdsForm action="/dead-letters/redrive" ids={[r.runId]} csrf={p.csrf} label="Redrive" />
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
