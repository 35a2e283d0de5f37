import type { Db, Queryable } from '../../src/db/db.ts';
import type { SequenceDefinition } from '../../src/outreach/compile-sequence.ts';
import { parseSequence } from '../../src/outreach/load-sequence.ts';
import { createOutreachServices, type OutreachServices } from '../../src/outreach/outreach-services.ts';

/** A small sequence for tests: three tracks by segment, caps and channel as asked. */
export function sequenceYaml(
  o: {
    name?: string;
    channel?: 'sendgrid' | 'instantly';
    cap?: number;
    /** true: the ClickUp sync; a string: that sync. */
    crm?: boolean | string;
    notify?: string;
  } = {},
): string {
  const cap = o.cap ?? 100;
  const track = (sender: string, tag: string) => `
    sender: ${sender}
    steps:
      - delay_days: 0
        subject: "${tag} 1 for {{account.name}}"
        body: "Hi {{coalesce(contact.first_name, 'there')}}, {{coalesce(starter, 'hello')}} ({{account.name}})"
      - delay_days: 3
        subject: "${tag} 2"
        body: "Hi {{coalesce(contact.first_name, 'there')}}, following up."`;
  return `name: ${o.name ?? 'test-seq'}
channel: ${o.channel ?? 'sendgrid'}
audience: present(contact.email)
senders:
  - { email: avery@sales.sandbox.test, name: Avery, daily_cap: ${cap} }
  - { email: blake@sales.sandbox.test, name: Blake, daily_cap: ${cap} }
  - { email: casey@sales.sandbox.test, name: Casey, daily_cap: ${cap} }
window: { from: "09:00", to: "17:00", days: [mon, tue, wed, thu, fri], default_timezone: America/New_York }
compliance:
  postal_address: Sandbox Golf Supply, 100 E Main St, Richmond, VA 23219
  unsubscribe_url: "https://outreach.sandbox.test/u/{{unsubscribe_token}}"
${o.crm ? `crm: { sync: ${o.crm === true ? 'golf-courses-clickup' : o.crm}, reply_status: Replied }\n` : ''}${o.notify ? `notify: { webhook: "${o.notify}" }\n` : ''}tracks:
  high-end:${track('avery@sales.sandbox.test', 'HE')}
  budget:${track('blake@sales.sandbox.test', 'BU')}
  default:${track('casey@sales.sandbox.test', 'DF')}
`;
}

export function servicesFor(
  db: Db,
  env: Record<string, string>,
  sequences: Record<string, string>,
): OutreachServices {
  const defs = new Map<string, SequenceDefinition>(
    Object.entries(sequences).map(([name, yaml]) => [name, parseSequence(yaml, `${name}.yaml`)]),
  );
  return createOutreachServices(db, env, {
    loadSequence: async (name) => {
      const d = defs.get(name);
      if (!d) throw new Error(`test: no sequence ${name}`);
      return d;
    },
  });
}

/** Monday 2026-12-07 at `hh:mm` New York time (EST, UTC-5). */
export const mondayNY = (hh: number, mm = 0, plusDays = 0) =>
  new Date(Date.UTC(2026, 11, 7 + plusDays, hh + 5, mm));

/** Empties records and outreach tables (tests share one database per describe). */
export async function emptyOutreachDb(db: Queryable): Promise<void> {
  await db.exec(
    'TRUNCATE accounts, contacts, field_values, imports, sync_records, sync_outbox, rate_limits, outreach_sequences, outreach_enrollments, outreach_sends, outreach_events, outreach_suppressions, outreach_contact_state, outreach_poll_state, record_events, webhook_deliveries, webhook_endpoints, hook_events RESTART IDENTITY CASCADE',
  );
}
