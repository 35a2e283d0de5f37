import { expect, it } from 'vitest';
import { runDueSequenceSteps } from '../src/outreach/run-due-steps.ts';
import { startSequenceFor } from '../src/outreach/start-sequence.ts';
import { SANDBOX_OUTBOUND } from '../src/sandbox/start-sandbox.ts';
import { describeEachBackend, openTestDb } from './helpers/backends.ts';
import { mondayNY, sequenceYaml, servicesFor } from './helpers/outreach-fixtures.ts';
import { startSandboxServe, until } from './helpers/serve.ts';
import { seedGolf } from './helpers/sync-fixtures.ts';

/**
 * `sluice serve --sandbox` as serve.ts wires it (openServeEngine's env into the server, the email
 * fakes connected to it): outreach sends to the sandbox's SendGrid and Instantly, and the SendGrid
 * fake's signed events come back through the server's own hook route, verified with the sandbox key.
 */
describeEachBackend('serve --sandbox and outreach', (backend) => {
  it('sends to the sandbox email fakes, and their signed events come back and stop the sequence', async () => {
    const db = await openTestDb(backend);
    // the CLI's environment has no email keys at all: everything must come from the sandbox
    const serve = await startSandboxServe(db, { pollMs: 100, callbacks: SANDBOX_OUTBOUND });
    const { server, sandbox, env } = serve;
    try {
      expect(env.SENDGRID_API_KEY).toBe(sandbox!.email.sendgrid.apiKey);
      const { contacts } = await seedGolf(db, 2, 1);
      const services = servicesFor(db, env as Record<string, string>, {
        'test-seq': sequenceYaml(),
        'inst-seq': sequenceYaml({ name: 'inst-seq', channel: 'instantly' }),
      });
      await startSequenceFor(services, contacts, 'test-seq', mondayNY(8));
      const run = await runDueSequenceSteps(services, mondayNY(10));
      expect(run.sent).toBe(2);
      expect(sandbox!.email.sendgrid.messages.map((m) => m.sendKey?.split(':')[0])).toEqual([
        'test-seq',
        'test-seq',
      ]);
      const inst = await startSequenceFor(services, [contacts[0]!], 'inst-seq', mondayNY(8));
      expect(inst.leads?.added).toBe(1);
      // the Instantly sequence's campaign and lead are in the sandbox's Instantly
      expect(sandbox!.email.instantly.leads).toHaveLength(1);
      expect([...sandbox!.email.instantly.campaigns.values()].map((c) => c.status)).toContain(1);
      // now the fakes go live against the server (before this, nothing could come back)
      await sandbox!.email.connect(server.url, { intervalMs: 100 });
      // these addresses are nobody in the sandbox's world: SendGrid bounces them, the signed bounce
      // events reach /v1/hooks/sendgrid, and the server's hook processor stops and suppresses both
      const states = await until(async () => {
        const r = await db.query<{ state: string }>(
          'SELECT state FROM outreach_contact_state ORDER BY contact_id',
        );
        const open = await db.query(`SELECT 1 FROM hook_events WHERE state NOT IN ('processed', 'failed')`);
        return r.rows.length === 2 && open.rows.length === 0 ? r.rows : undefined;
      }, 90_000);
      expect(states).toEqual([{ state: 'bounced' }, { state: 'bounced' }]);
      const hooks = await db.query<{ source: string; state: string }>(
        `SELECT DISTINCT source, state FROM hook_events WHERE source = 'sendgrid'`,
      );
      expect(hooks.rows).toEqual([{ source: 'sendgrid', state: 'processed' }]);
      const rejected = await db.query('SELECT 1 FROM hook_rejections');
      expect(rejected.rows).toHaveLength(0);
      const suppressed = await db.query('SELECT email FROM outreach_suppressions');
      expect(suppressed.rows).toHaveLength(2);
    } finally {
      await serve.stop();
      await db.close();
    }
  }, 180_000);
});
