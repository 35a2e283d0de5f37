/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { Hono } from 'hono';
import { allows } from '../../api-keys/api-keys.ts';
import { listDeadRuns, retryDeadRuns } from '../../engine/dead-letter.ts';
import { pageFrame } from '../frame.ts';
import { DeadLetters } from '../pages/dead-letters-page.tsx';
import { deadGroups, discardDeadRuns } from '../queries/dead-letters.ts';
import { Flash, renderPage } from '../render.tsx';
import { requireSession, UiError } from '../ui-auth.ts';
import type { UiEnv } from '../ui-env.ts';
import { doneRedirect, formFields } from './route-helpers.ts';

async function ids(c: Parameters<typeof formFields>[0]): Promise<number[]> {
  const list = (await formFields(c, 'id')).map(Number);
  if (list.length === 0 || list.some((n) => !Number.isSafeInteger(n) || n <= 0))
    throw new UiError(400, 'choose the runs (id fields) to act on');
  return list;
}

export function registerDeadLetterRoutes(ui: Hono<UiEnv>): void {
  ui.get('/dead-letters', requireSession(), async (c) => {
    const s = c.get('services');
    // independent reads: on server Postgres they run at once (PGlite queues them)
    const [groups, runs] = await Promise.all([
      deadGroups(s.db, s.sandbox === true),
      listDeadRuns(s.db, { limit: 50 }),
    ]);
    const frame = await pageFrame(c, 'Dead letters', '/dead-letters');
    const session = c.get('session');
    return renderPage(
      c,
      frame,
      <>
        <Flash c={c} />
        <p class="muted">
          Runs that failed, and partial runs with failed calls. A redrive runs again only what failed
          (memoized steps are kept, the cache answers calls already made); a discard takes runs out without
          running them.
        </p>
        <DeadLetters
          groups={groups}
          runs={runs}
          csrf={session.csrf}
          canAct={allows(session.apiKey.scopes, 'admin')}
        />
      </>,
    );
  });

  // The DLQ's actions need the admin scope, as POST /v1/dlq/redrive does.
  ui.post('/dead-letters/redrive', requireSession('admin'), async (c) => {
    const s = c.get('services');
    const requeued = await retryDeadRuns(s.db, s.engine.queue, await ids(c));
    return doneRedirect(
      c,
      '/dead-letters',
      `${requeued.length} runs queued again: only what failed runs again`,
    );
  });

  ui.post('/dead-letters/discard', requireSession('admin'), async (c) => {
    const s = c.get('services');
    const n = await discardDeadRuns(s.db, s.engine.queue, await ids(c), c.get('session').apiKey.name);
    return doneRedirect(c, '/dead-letters', `${n} runs discarded`);
  });
}
