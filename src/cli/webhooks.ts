import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { defaultInboundRegistry } from '../webhooks/inbound/default-sources.ts';
import { listHookRejections, reverifyHookRejection } from '../webhooks/inbound/hook-rejections.ts';
import { callbackUrlProblem } from '../webhooks/send-webhook.ts';
import { signatureProblem } from '../webhooks/signature.ts';
import {
  ensureEndpoint,
  listDeliveries,
  listEndpoints,
  replayDelivery,
  showDelivery,
} from '../webhooks/webhook-store.ts';
import { action } from './context.ts';
import { table } from './output.ts';
import { onShutdownSignal, parsePositive } from './run-options.ts';

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
  cmd
    .command('receive')
    .description(
      'a local receiver to try callbacks with: prints every webhook it gets and checks its signature (--secret); never opens the database',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port', '8080')
    .option('--secret <whsec>', 'the endpoint secret (webhook_secret of the 202, or `sluice webhooks add`)')
    .option('--status <code>', 'HTTP status to answer with (e.g. 500 or 410 to watch retries)', '200')
    .option('--json', 'one JSON object per webhook: {webhook_id, signature, payload}')
    .action(
      action(
        async (ctx, o: { host: string; port: string; secret?: string; status: string; json?: boolean }) => {
          const status = Number(o.status);
          if (!Number.isInteger(status) || status < 200 || status > 599)
            throw new ConfigError(`--status must be an HTTP status 200-599, got "${o.status}"`, {
              exitCode: 2,
            });
          if (o.secret !== undefined && !o.secret.startsWith('whsec_'))
            throw new ConfigError('--secret is the whsec_… secret of the endpoint', { exitCode: 2 });
          const server = createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on('data', (c: Buffer) => chunks.push(c));
            req.on('end', () => {
              const body = Buffer.concat(chunks).toString('utf8');
              const problem = o.secret ? signatureProblem(o.secret, req.headers, body) : undefined;
              const signature = !o.secret ? 'not checked (no --secret)' : (problem ?? 'valid');
              let payload: unknown = body;
              try {
                payload = JSON.parse(body);
              } catch {}
              const id = req.headers['webhook-id'];
              // one line per webhook (JSON Lines), not one document: the receiver runs until stopped
              if (ctx.out.json)
                process.stdout.write(`${JSON.stringify({ webhook_id: id ?? null, signature, payload })}\n`);
              else {
                ctx.out.line(`${req.method} ${req.url} webhook-id ${id ?? '-'}: signature ${signature}`);
                ctx.out.line(typeof payload === 'string' ? payload : JSON.stringify(payload, null, 2));
              }
              res.writeHead(o.secret && problem ? 401 : status).end();
            });
          });
          const port = Number(o.port);
          if (!Number.isInteger(port) || port < 0 || port > 65535)
            throw new ConfigError(`--port must be 0-65535, got "${o.port}"`, { exitCode: 2 });
          await new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen(port, o.host, resolve);
          });
          ctx.out.warn(
            `receiving webhooks on http://${o.host}:${(server.address() as AddressInfo).port}/ (any path) until Ctrl-C`,
          );
          await new Promise<void>((resolve) => {
            const off = onShutdownSignal(() => {
              off();
              server.closeAllConnections();
              server.close(() => resolve());
            });
          });
        },
      ),
    );
  cmd
    .command('rejected')
    .description(
      'inbound webhook requests refused for their signature or token (newest first; the newest 1,000 per source are kept)',
    )
    .option('--source <id>', 'rb2b, clickup, hubspot or generic')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, o: { source?: string; limit: string; json?: boolean }) => {
        const rows = await listHookRejections(await ctx.db(), {
          ...(o.source ? { source: o.source } : {}),
          limit: parsePositive('--limit', o.limit),
        });
        if (ctx.out.json) return ctx.out.result(rows);
        if (rows.length === 0) return ctx.out.line('no refused inbound requests');
        ctx.out.line(
          table(
            rows.map((r) => [
              r.id,
              when(r.receivedAt),
              r.source,
              r.reason,
              `${r.bodyBytes} B`,
              r.acceptedEventId ? `accepted (event ${r.acceptedEventId})` : '-',
            ]),
            ['id', 'at', 'source', 'reason', 'body', 'reverified'],
          ),
        );
        ctx.out.warn('after fixing a wrong secret: `sluice webhooks reverify ID` checks one again');
      }),
    );
  cmd
    .command('reverify <id>')
    .description(
      "check a refused inbound request again with the source's current secret; if valid now, store it as an event for `sluice serve` to process",
    )
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, _o: { json?: boolean }, id: string) => {
        const r = await reverifyHookRejection(
          await ctx.db(),
          defaultInboundRegistry(),
          ctx.config.env,
          parsePositive('id', id),
        );
        if (!r) throw new ConfigError(`no refused request ${id} (sluice webhooks rejected)`);
        if (ctx.out.json) return ctx.out.result(r);
        if (r.outcome === 'refused') {
          ctx.out.line(`request ${id} is still refused: ${r.reason}`);
          process.exitCode = 1;
          return;
        }
        ctx.out.line(
          r.duplicate
            ? `request ${id} verifies now; its event ${r.eventId} was already stored (the sender retried)`
            : `request ${id} verifies now: stored as event ${r.eventId}; \`sluice serve\` processes it`,
        );
      }),
    );
}
