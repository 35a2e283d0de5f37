import type { Context } from 'hono';
import type { Db } from '../db/db.ts';
import { DEMO_ENGAGEMENT } from '../learning/deployments.ts';
import type { PageFrame } from './layout.tsx';
import type { UiEnv } from './ui-env.ts';

/** Batches that `sluice demo` ran (the demo engagement's deployment): simulated providers. */
export async function demoBatchIds(db: Db): Promise<number[]> {
  const r = await db.query<{ id: string }>(
    `SELECT db.batch_id AS id FROM deployment_batches db
       JOIN deployments d ON d.id = db.deployment_id JOIN engagements e ON e.id = d.engagement_id
      WHERE e.slug = $1 ORDER BY db.batch_id`,
    [DEMO_ENGAGEMENT],
  );
  return r.rows.map((x) => Number(x.id));
}

/** The frame of a page: database, sandbox marks, the logged-in key and its CSRF token. */
export async function pageFrame(c: Context<UiEnv>, title: string, active: string): Promise<PageFrame> {
  const s = c.get('services');
  const session = c.get('session');
  return {
    title,
    active,
    database: { backend: s.db.backend, target: s.db.target, schema: s.db.schema },
    sandboxServer: s.sandbox === true,
    demoBatches: await demoBatchIds(s.db),
    ...(session ? { keyName: session.apiKey.name, csrf: session.csrf } : {}),
  };
}

/** Whether a batch's data is simulated: the server runs on the sandbox, or the demo ran it. */
export function isSimulated(frame: PageFrame, batchId: number | null | undefined): boolean {
  return frame.sandboxServer || (batchId != null && frame.demoBatches.includes(Number(batchId)));
}
