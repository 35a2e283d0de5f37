import type { Command } from 'commander';
import { addRule, listRules, removeRule } from '../alerts/alert-rules.ts';
import { checkAlerts } from '../alerts/check-alerts.ts';
import { sendAlertEmails } from '../alerts/send-alert-emails.ts';
import { SIGNAL_DEFINITIONS, SIGNALS } from '../alerts/signals.ts';
import { ConfigError } from '../errors.ts';
import { action } from './context.ts';
import { table } from './output.ts';

/** `sluice alerts add|list|remove|check`: timing signals to a Slack incoming webhook or an email address. */
export function registerAlerts(program: Command): void {
  const cmd = program
    .command('alerts')
    .description(
      'alerts on timing signals (job change, website visitor, reply) to a Slack incoming webhook or by email',
    );

  cmd
    .command('add')
    .description('add a rule; it alerts on signals from now on')
    .argument('<name>', 'rule name')
    .requiredOption(
      '--on <signal>',
      `signal: ${SIGNALS.map((s) => `${s} (${SIGNAL_DEFINITIONS[s].description})`).join('; ')}`,
    )
    .option('--slack <url>', 'Slack incoming webhook URL')
    .option('--email <address>', 'email the alert to this address (instead of --slack)')
    .option('--from <address>', 'sender address of the alert emails (one your email tool may send from)')
    .option('--email-provider <id>', 'email tool that sends them (src/outreach)', 'sendgrid')
    .option(
      '--match <field=value>',
      'only signals whose account has this field value (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--json', 'print one JSON object')
    .action(
      action(
        async (
          ctx,
          o: {
            on: string;
            slack?: string;
            email?: string;
            from?: string;
            emailProvider: string;
            match: string[];
            json?: boolean;
          },
          name: string,
        ) => {
          const match: Record<string, string> = {};
          for (const m of o.match) {
            const i = m.indexOf('=');
            if (i <= 0) throw new ConfigError(`--match "${m}" must be field=value`, { exitCode: 2 });
            match[m.slice(0, i)] = m.slice(i + 1);
          }
          if (o.email && !o.from)
            throw new ConfigError('--email needs --from ADDRESS (the sender of the alert emails)', {
              exitCode: 2,
            });
          const db = await ctx.db();
          const rule = await addRule(db, {
            name,
            signal: o.on,
            match,
            ...(o.slack ? { slackUrl: o.slack } : {}),
            ...(o.email ? { email: { to: o.email, from: o.from!, provider: o.emailProvider } } : {}),
          });
          // the URL holds Slack's secret: never printed back
          const shown = { ...rule, url: undefined };
          if (ctx.out.json) return ctx.out.result({ rule: shown });
          ctx.out.line(
            `Rule ${rule.name}: ${rule.signal}${
              Object.keys(match).length
                ? ` where ${Object.entries(match)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(', ')}`
                : ''
            } → ${
              rule.channel === 'email'
                ? `email to ${rule.emailTo} via ${rule.emailProvider}. \`sluice alerts check\` (the \`alerts\` schedule) sends them.`
                : 'Slack. `sluice alerts check` (the `alerts` schedule) queues the messages; `sluice serve` delivers them.'
            }`,
          );
        },
      ),
    );

  cmd
    .command('list')
    .description('list rules')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx) => {
        const db = await ctx.db();
        const rules = (await listRules(db)).map(({ url: _url, ...r }) => r);
        if (ctx.out.json) return ctx.out.result({ rules });
        ctx.out.line(
          table(
            rules.map((r) => [
              r.name,
              r.signal,
              JSON.stringify(r.match),
              r.channel === 'email' ? `email ${r.emailTo} (${r.emailProvider})` : r.channel,
              r.createdAt,
            ]),
            ['rule', 'signal', 'match', 'channel', 'created'],
          ),
        );
      }),
    );

  cmd
    .command('remove')
    .description('remove a rule')
    .argument('<name>', 'rule name')
    .action(
      action(async (ctx, _o: { json?: boolean }, name: string) => {
        const db = await ctx.db();
        if (!(await removeRule(db, name))) throw new ConfigError(`no alert rule "${name}"`, { exitCode: 2 });
        ctx.out.line(`Removed rule ${name}.`);
      }),
    );

  cmd
    .command('check')
    .description(
      'read new signals: queue a Slack message for each match (delivered by `sluice serve`), send the alert emails',
    )
    .option('--rule <name>', 'only this rule')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, o: { rule?: string; json?: boolean }) => {
        const db = await ctx.db();
        const results = await checkAlerts(db, o.rule ? { rule: o.rule } : {});
        const emails = await sendAlertEmails(db, { env: ctx.config.env });
        if (ctx.out.json) return ctx.out.result({ results, emails });
        ctx.out.line(
          table(
            results.map((r) => [r.rule, r.signals, r.notified]),
            ['rule', 'new signals', 'messages queued'],
          ),
        );
        if (emails.sent + emails.failed + emails.unconfirmed + emails.pending)
          ctx.out.line(
            `Alert emails: ${emails.sent} sent, ${emails.failed} refused, ${emails.unconfirmed} unconfirmed (looked up next time), ${emails.pending} pending.`,
          );
      }),
    );
}
