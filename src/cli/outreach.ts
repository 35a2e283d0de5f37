import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { builtinSequences, loadSequence } from '../outreach/load-sequence.ts';
import { createOutreachServices } from '../outreach/outreach-services.ts';
import { outreachStatus, recentEvents, selectContacts } from '../outreach/outreach-status.ts';
import { addSuppression, ensureSequenceRow, sequenceRow, setPaused } from '../outreach/outreach-store.ts';
import { pollEmailEvents } from '../outreach/poll-events.ts';
import { previewSequence } from '../outreach/preview.ts';
import { runDueSequenceSteps } from '../outreach/run-due-steps.ts';
import { startSequenceFor } from '../outreach/start-sequence.ts';
import { action } from './context.ts';
import { table } from './output.ts';

/** `sluice outreach`: segment sequences through SendGrid or Instantly that stop on reply (docs/outreach.md). */
interface Selection {
  where?: string;
  ids?: string;
  limit?: string;
  json?: boolean;
}

function limitOf(raw: string | undefined, fallback: number): number {
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new ConfigError(`--limit must be a positive integer (got "${raw}")`, { exitCode: 2 });
  return n;
}

function idsOf(raw: string): number[] {
  const ids = raw.split(',').map((x) => Number(x.trim()));
  if (ids.some((x) => !Number.isSafeInteger(x) || x <= 0))
    throw new ConfigError(`--ids must be contact ids separated by commas (got "${raw}")`, { exitCode: 2 });
  return ids;
}

export function registerOutreach(program: Command): void {
  const o = program
    .command('outreach')
    .description(
      'email sequences per segment through SendGrid or Instantly, stopped by replies, bounces and unsubscribes',
    );

  o.command('list')
    .description('built-in sequences (sequences/)')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx) => {
        const names = await builtinSequences();
        if (ctx.out.json) return ctx.out.result({ sequences: names });
        for (const n of names) ctx.out.line(n);
      }),
    );

  o.command('preview <sequence>')
    .description(
      'render every message of the sequence for a sample of contacts, exactly as sent; sends nothing',
    )
    .option('--where <filter>', 'contacts to sample (the --where grammar of sluice run)')
    .option('--ids <ids>', 'contact ids, comma-separated')
    .option('--limit <n>', 'contacts to sample', '3')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, opts: Selection, name: string) => {
        await loadSequence(name); // a bad sequence file is named before any database is opened
        const db = await ctx.db();
        const services = createOutreachServices(db, ctx.config.env);
        const ids = opts.ids ? idsOf(opts.ids) : await selectContacts(db, opts.where, limitOf(opts.limit, 3));
        const p = await previewSequence(services, name, ids);
        if (ctx.out.json) return ctx.out.result(p);
        ctx.out.line(`${p.sequence} (${p.channel}): ${p.contacts.length} contacts`);
        for (const c of p.contacts) {
          ctx.out.line(
            `\n=== contact ${c.contactId} <${c.email ?? 'no email'}> track ${c.track ?? '-'}${c.skipped ? `: SKIPPED, ${c.skipped}` : ''}`,
          );
          for (const m of c.skipped ? [] : c.messages) {
            ctx.out.line(`--- step ${m.step + 1} from ${m.sender.name} <${m.sender.email}>`);
            ctx.out.line(`Subject: ${m.subject}`);
            ctx.out.line(`List-Unsubscribe: ${m.headers['List-Unsubscribe']}`);
            ctx.out.line(m.body);
          }
        }
      }),
    );

  o.command('start <sequence>')
    .description(
      'start the sequence for contacts (audience, suppression and earlier stops applied); resumes a paused one',
    )
    .option('--where <filter>', 'contacts (the --where grammar of sluice run)')
    .option('--ids <ids>', 'contact ids, comma-separated')
    .option('--limit <n>', 'at most this many contacts', '10000')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, opts: Selection, name: string) => {
        await loadSequence(name); // a bad sequence file is named before any database is opened
        const db = await ctx.db();
        const services = createOutreachServices(db, ctx.config.env, { log: (l) => ctx.out.warn(l) });
        const def = await services.loadSequence(name);
        await ensureSequenceRow(db, def.name, def.channel);
        await setPaused(db, def.name, false);
        const ids = opts.ids
          ? idsOf(opts.ids)
          : await selectContacts(db, opts.where, limitOf(opts.limit, 10_000));
        const r = await startSequenceFor(services, ids, name);
        if (ctx.out.json) return ctx.out.result(r);
        ctx.out.line(`${r.sequence}: started for ${r.started} of ${ids.length} contacts`);
        for (const [why, n] of Object.entries(r.skipped)) ctx.out.line(`  skipped ${n}: ${why}`);
        if (r.leads)
          ctx.out.line(
            `  instantly: ${r.leads.added} leads added, ${r.leads.skipped} already there, ${r.leads.pending} waiting`,
          );
        if (def.channel === 'sendgrid')
          ctx.out.line('  steps are sent by the sequence-steps job (`sluice outreach run`, or the schedule)');
      }),
    );

  for (const [verb, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const)
    o.command(`${verb} <sequence>`)
      .description(
        paused
          ? 'stop sending (Instantly campaigns are paused too); enrollments keep their place'
          : 'send again',
      )
      .option('--json', 'print one JSON object')
      .action(
        action(async (ctx, _o: { json?: boolean }, name: string) => {
          await loadSequence(name); // a bad sequence file is named before any database is opened
          const db = await ctx.db();
          const services = createOutreachServices(db, ctx.config.env);
          const def = await services.loadSequence(name);
          const row = await ensureSequenceRow(db, def.name, def.channel);
          await setPaused(db, def.name, paused);
          if (def.channel === 'instantly') {
            const session = services.session('instantly');
            for (const id of Object.values((await sequenceRow(db, def.name))?.campaigns ?? row.campaigns))
              if (!id.startsWith('creating:'))
                await (paused ? session.pauseCampaign!(id) : session.activateCampaign!(id));
          }
          if (ctx.out.json) return ctx.out.result({ sequence: def.name, paused });
          ctx.out.line(`${def.name}: ${paused ? 'paused' : 'sending'}`);
        }),
      );

  o.command('status [sequence]')
    .description('enrollments, sends and events per sequence')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }, name?: string) => {
        const s = await outreachStatus(await ctx.db(), name);
        if (ctx.out.json) return ctx.out.result({ sequences: s });
        const fmt = (r: Record<string, number>) =>
          Object.entries(r)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ') || '-';
        ctx.out.line(
          table(
            s.map((x) => [
              x.sequence,
              x.channel,
              x.paused ? 'paused' : 'on',
              fmt(x.enrollments),
              fmt(x.sends),
              fmt(x.events),
            ]),
            ['sequence', 'channel', 'state', 'contacts', 'sends', 'events'],
          ),
        );
        for (const x of s)
          for (const [why, n] of Object.entries(x.stopReasons))
            ctx.out.line(`${x.sequence}: ${n} stopped: ${why}`);
      }),
    );

  o.command('run')
    .description('send the steps that are due now (what the sequence-steps schedule runs)')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx) => {
        const r = await runDueSequenceSteps(createOutreachServices(await ctx.db(), ctx.config.env));
        if (ctx.out.json) return ctx.out.result(r);
        ctx.out.line(
          `sent ${r.sent}; waiting for the send window ${r.deferredWindow}, for tomorrow's cap ${r.deferredCap}; stopped ${r.stopped}; refused ${r.failed}; unconfirmed ${r.unknown}; reconciled ${r.reconciled.sent} sent, ${r.reconciled.resent} resent, ${r.reconciled.unknown} still unknown; Instantly leads added ${r.instantlyLeads}`,
        );
      }),
    );

  o.command('poll <channel>')
    .description(
      'read the events a tool holds (Instantly replies, bounces, unsubscribes) in case a webhook was missed',
    )
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _o: { json?: boolean }, channel: string) => {
        const r = await pollEmailEvents(createOutreachServices(await ctx.db(), ctx.config.env), channel);
        if (ctx.out.json) return ctx.out.result(r);
        ctx.out.line(
          `${channel} since ${r.since.toISOString()}: ${r.events} events, ${r.duplicates} already known, ${r.stops} stopped a contact; watermark ${r.watermark.toISOString()}`,
        );
      }),
    );

  o.command('events')
    .description('the latest email events (replies, bounces, unsubscribes…)')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, opts: Selection) => {
        const rows = await recentEvents(await ctx.db(), limitOf(opts.limit, 20));
        if (ctx.out.json) return ctx.out.result({ events: rows });
        ctx.out.line(
          table(
            rows.map((r) => [
              r.occurred_at.toISOString(),
              r.provider,
              r.kind,
              r.email,
              r.contact_id ?? '-',
              (r.detail.text ?? '').split('\n')[0]!.slice(0, 60),
            ]),
            ['at', 'tool', 'event', 'email', 'contact', 'text'],
          ),
        );
      }),
    );

  o.command('suppress <email>')
    .description('never email this address again (the global suppression list)')
    .option('--reason <text>', 'why', 'manual')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, opts: { reason: string; json?: boolean }, email: string) => {
        const added = await addSuppression(await ctx.db(), email, opts.reason, 'manual');
        if (ctx.out.json) return ctx.out.result({ email: email.toLowerCase(), added });
        ctx.out.line(
          added ? `${email.toLowerCase()} suppressed` : `${email.toLowerCase()} was already suppressed`,
        );
      }),
    );
}
