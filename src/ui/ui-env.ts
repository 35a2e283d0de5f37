import type { ServerEnv } from '../server/server-env.ts';
import type { UiSession } from './session.ts';

/** The dashboard's hono environment: the API's services plus the browser session. */
export interface UiEnv {
  Variables: ServerEnv['Variables'] & { session: UiSession };
}
