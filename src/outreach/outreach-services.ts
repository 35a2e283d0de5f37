import type { Db } from '../db/db.ts';
import type { SequenceDefinition } from './compile-sequence.ts';
import { connectEmailProvider } from './email-client.ts';
import type { EmailSession } from './email-provider.ts';
import { loadSequence } from './load-sequence.ts';
import { outreachSecret } from './outreach-secret.ts';
import { getEmailProvider } from './registry.ts';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * What every outreach function gets (docs/outreach.md): the database, the environment (keys, base
 * URLs), connected email tools (lazily, one session per channel) and the sequence loader. Build it with
 * `createOutreachServices`; tests pass their own loader or sessions.
 */
export interface OutreachServices {
  db: Db;
  env: Env;
  /** The connected tool of a channel (`sendgrid`, `instantly`). */
  session(channel: string): EmailSession;
  /** Sequence name or file → definition. Default: built-ins in `sequences/`, else a path. */
  loadSequence(name: string): Promise<SequenceDefinition>;
  /** The key that signs unsubscribe tokens: `SLUICE_OUTREACH_SECRET`, else generated once per database. */
  secret(): Promise<string>;
  log(line: string): void;
}

export interface OutreachServicesOptions {
  loadSequence?: (name: string) => Promise<SequenceDefinition>;
  sessions?: Record<string, EmailSession>;
  fetch?: typeof fetch;
  log?: (line: string) => void;
}

export function createOutreachServices(
  db: Db,
  env: Env,
  options: OutreachServicesOptions = {},
): OutreachServices {
  const sessions = new Map<string, EmailSession>(Object.entries(options.sessions ?? {}));
  const cache = new Map<string, Promise<SequenceDefinition>>();
  const load = options.loadSequence ?? loadSequence;
  return {
    db,
    env,
    session(channel) {
      let s = sessions.get(channel);
      if (!s) {
        s = connectEmailProvider(getEmailProvider(channel), {
          db,
          env,
          ...(options.fetch ? { fetch: options.fetch } : {}),
        });
        sessions.set(channel, s);
      }
      return s;
    },
    loadSequence(name) {
      let p = cache.get(name);
      if (!p) {
        p = load(name);
        cache.set(name, p);
        p.catch(() => cache.delete(name));
      }
      return p;
    },
    secret: () => outreachSecret(db, env),
    log: options.log ?? (() => {}),
  };
}
