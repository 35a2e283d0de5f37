import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { callbackUrlProblem } from '../webhooks/send-webhook.ts';
import {
  ensureEndpoint,
  listDeliveries,
  listEndpoints,
  replayDelivery,
  showDelivery,
} from '../webhooks/webhook-store.ts';
import { action } from './context.ts';
import { table } from './output.ts';
import { parsePositive } from './run-options.ts';

const when = (d: Date | null) => (d ? new Date(d).toISOString().slice(0, 19).replace('T', ' ') : '-');

export function registerWebhooks(program: Command): void {
  const cmd = program
    .command('webhooks')
    .description('outbound webhook deliveries (callbacks): list, show attempts, replay; endpoints');
  cmd
    .command('list')
    .description('deliveries, newest first')
    .option('--state <state>', 'pending, succeeded or failed')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, o: { state?: string; limit: string; json?: boolean }) => {
        if (o.state && !['pending', 'succeeded', 'failed'].includes(o.state))
          throw new ConfigError(`--state must be pending, succeeded or failed, got "${o.state}"`, {
            exitCode: 2,
          });
        const rows = await listDeliveries(await ctx.db(), {
          ...(o.state ? { state: o.state } : {}),
          limit: parsePositive('--limit', o.limit),
        });
        if (ctx.out.json) return ctx.out.result(rows);
        if (rows.length === 0) return ctx.out.line('no deliveries');
        ctx.out.line(
          table(
            rows.map((d) => [
              d.id,
              d.eventType,
              d.state,
              d.attempts,
              d.lastStatus ?? '-',
              d.state === 'pending' ? when(d.nextAttemptAt) : when(d.finishedAt),
              d.url,
            ]),
            ['id', 'event', 'state', 'attempts', 'last status', 'next / done', 'url'],
          ),
        );
      }),
    );
  cmd
    .command('show <id>')
    .description('one delivery with its payload and every attempt')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, _o: { json?: boolean }, id: string) => {
        const d = await showDelivery(await ctx.db(), parsePositive('id', id));
        if (!d) throw new ConfigError(`no delivery ${id} (sluice webhooks list)`);
        if (ctx.out.json) return ctx.out.result({ ...d, payload: JSON.parse(d.payload) });
        ctx.out.line(
          `delivery ${d.id} ${d.eventType} → ${d.url}\nwebhook-id ${d.messageId}; ${d.state}; ${d.attempts} attempt(s)${d.jobId ? `; job ${d.jobId}` : ''}`,
        );
        if (d.lastError) ctx.out.line(`last error: ${d.lastError}`);
        ctx.out.line(
          table(
            d.attemptLog.map((a, i) => [
              i + 1,
              when(a.startedAt),
              a.outcome,
              a.status ?? '-',
              `${a.durationMs} ms`,
              (a.error ?? a.response ?? '').slice(0, 60),
            ]),
            ['#', 'at', 'outcome', 'status', 'took', 'error / answer'],
          ),
        );
        ctx.out.line(`payload: ${d.payload.length > 400 ? `${d.payload.slice(0, 400)}…` : d.payload}`);
      }),
    );
  cmd
    .command('replay <id>')
    .description(
      'send a delivery again now (same webhook-id; re-enables its endpoint); a running server sends it',
    )
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, _o: { json?: boolean }, id: string) => {
        const ok = await replayDelivery(await ctx.db(), parsePositive('id', id));
        if (!ok) throw new ConfigError(`no delivery ${id} (sluice webhooks list)`);
        if (ctx.out.json) return ctx.out.result({ replayed: Number(id) });
        ctx.out.line(`delivery ${id} queued again; \`sluice serve\` sends it within a second`);
      }),
    );
  cmd
    .command('endpoints')
    .description('endpoints (URLs with a signing secret); never prints secrets')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, _o: { json?: boolean }) => {
        const rows = await listEndpoints(await ctx.db());
        if (ctx.out.json) return ctx.out.result(rows);
        ctx.out.line(
          table(
            rows.map((e) => [
              e.id,
              e.url,
              e.disabledAt ? `disabled: ${e.disabledReason}` : 'active',
              e.description ?? '',
            ]),
            ['id', 'url', 'state', 'description'],
          ),
        );
      }),
    );
  cmd
    .command('add <url>')
    .description(
      'register an endpoint and print its signing secret (once); callbacks to this URL are signed with it',
    )
    .option('--description <text>', 'what it is')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, o: { description?: string; json?: boolean }, url: string) => {
        const bad = callbackUrlProblem(url);
        if (bad) throw new ConfigError(`${url}: ${bad}`, { exitCode: 2 });
        const { endpoint, secret } = await ensureEndpoint(await ctx.db(), url, o.description);
        if (!secret)
          throw new ConfigError(
            `${url} is already registered as endpoint ${endpoint.id}; its secret was shown when it was created`,
          );
        if (ctx.out.json) return ctx.out.result({ ...endpoint, secret });
        ctx.out.line(secret);
        ctx.out.warn(
          `endpoint ${endpoint.id}: verify signatures with this secret (Standard Webhooks); it cannot be shown again`,
        );
      }),
    );
}
