import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { SANDBOX_BANNER, SANDBOX_OUTBOUND } from '../sandbox/start-sandbox.ts';
import { action } from './context.ts';
import { onShutdownSignal } from './run-options.ts';

interface ServeOptions {
  host: string;
  port: string;
  workers: string;
  config?: string;
  sandbox?: boolean;
  uploadLimitMb: string;
  json?: boolean;
  schedules?: boolean;
  workerProcesses: string;
}

function nonNegative(option: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new ConfigError(`${option} must be a whole number ≥ 0, got "${raw}"`, { exitCode: 2 });
  return n;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'HTTP API (/v1, /api/enrich-course, inbound hooks, /health, /metrics) with queue workers, until SIGINT/SIGTERM',
    )
    .option(
      '--host <host>',
      'address to bind (a non-loopback address needs an API key to exist)',
      '127.0.0.1',
    )
    .option('--port <n>', 'port (0 = any free port)', '4000')
    .option(
      '--workers <n>',
      'runs in flight in this process; 0 = leave the runs to separate `sluice worker`s',
      '10',
    )
    .option(
      '--worker-processes <n>',
      'work the runs in n child `sluice worker` processes (each --workers runs in flight) instead of this one, so a batch does not slow the API; server PostgreSQL only',
      '0',
    )
    .option('--config <file>', 'trigger rules (default: sluice.config.yaml when it exists)')
    .option(
      '--sandbox',
      'answer every provider from the local sandbox (fake servers and LLM), like `sluice demo`; allows loopback callbacks',
    )
    .option('--upload-limit-mb <n>', 'largest CSV upload to POST /v1/imports', '512')
    .option('--json', 'print {url, port, pid} as one JSON line on stdout once listening')
    .option('--no-schedules', 'do not run schedules in this process (`sluice schedules list`)')
    .action(
      action(async (ctx, o: ServeOptions) => {
        // loaded here, not at the top: `sluice --help` registers every command and needs none of this
        const [
          { loadSequence },
          { startScheduleRunner },
          { openServeEngine },
          { startServer },
          { startWorkerProcesses },
          { loadTriggerConfig },
        ] = await Promise.all([
          import('../outreach/load-sequence.ts'),
          import('../schedules/schedule-runner.ts'),
          import('../server/serve-engine.ts'),
          import('../server/start-server.ts'),
          import('../server/worker-processes.ts'),
          import('../triggers/trigger-config.ts'),
        ]);
        const port = nonNegative('--port', o.port);
        const workers = nonNegative('--workers', o.workers);
        const workerProcesses = nonNegative('--worker-processes', o.workerProcesses);
        const config = loadTriggerConfig(o.config);
        const db = await ctx.db();
        if (workerProcesses > 0 && db.backend !== 'postgres')
          throw new ConfigError(
            `--worker-processes ${workerProcesses}: the embedded database (${db.target}) belongs to one process; use it with server PostgreSQL (DATABASE_URL), or drop the option to work runs in this process`,
            { exitCode: 2 },
          );
        // with --sandbox, `env` points every provider, CRM and email tool at the sandbox's fakes
        const { engine, sandbox, env } = await openServeEngine(ctx.config, db, {
          sandbox: o.sandbox === true,
        });
        for (const rule of config.rules) {
          try {
            if (rule.sequence) await loadSequence(rule.sequence);
            else await engine.resolvePipeline(rule.pipeline!);
          } catch (err) {
            throw new ConfigError(
              `${config.file}: rule "${rule.name}": ${rule.sequence ? `sequence ${JSON.stringify(rule.sequence)}` : `pipeline ${JSON.stringify(rule.pipeline)}`}: ${(err as Error).message}`,
              { exitCode: 2, cause: err },
            );
          }
        }
        if (sandbox) ctx.out.warn(SANDBOX_BANNER);
        let server: Awaited<ReturnType<typeof startServer>>;
        try {
          server = await startServer({
            db,
            engine,
            env,
            host: o.host,
            port,
            workers: workerProcesses > 0 ? 0 : workers,
            rules: config.rules,
            // Callback URLs pass the outbound SSRF guard; only the sandbox admits loopback receivers.
            callbacks: o.sandbox === true ? SANDBOX_OUTBOUND : {},
            uploadLimitBytes: nonNegative('--upload-limit-mb', o.uploadLimitMb) * 1024 * 1024,
            log: (line) => ctx.out.warn(line),
            sandbox: sandbox !== undefined,
          });
        } catch (err) {
          await engine.queue.stop();
          await sandbox?.stop();
          throw err;
        }
        // the sandbox's email fakes send their events and replies back to this server
        // (over loopback whatever --host is: the fakes run on this machine and post to loopback only)
        await sandbox?.email.connect(`http://127.0.0.1:${server.port}`);
        const children =
          workerProcesses > 0 && workers > 0
            ? startWorkerProcesses({
                count: workerProcesses,
                concurrency: workers,
                sandbox: o.sandbox === true,
                // the same database as this process, however it was given (flag or environment)
                env: {
                  ...process.env,
                  DATABASE_URL: ctx.config.databaseUrl,
                  ...(ctx.config.dbSchema ? { SLUICE_DB_SCHEMA: ctx.config.dbSchema } : {}),
                },
                log: (line) => ctx.out.warn(`serve: ${line}`),
              })
            : undefined;
        // Schedules: cron passes and firings in this process too (one firing across all processes).
        let schedules: Awaited<ReturnType<typeof startScheduleRunner>> | undefined;
        if (o.schedules !== false) {
          try {
            schedules = await startScheduleRunner({
              services: {
                db,
                env,
                engine,
                callbacks: o.sandbox === true ? SANDBOX_OUTBOUND : {},
                log: (line) => ctx.out.warn(`serve: ${line}`),
              },
              cronIntervalSeconds: ctx.config.cronIntervalSeconds,
              onError: (err) => ctx.out.warn(`serve: schedules: ${(err as Error).message}`),
              onFired: (run) =>
                ctx.out.warn(
                  `serve: schedule ${run.schedule} #${run.id}: ${run.state}${run.error ? `: ${run.error}` : ''}`,
                ),
            });
          } catch (err) {
            await server.stop();
            await children?.stop();
            await engine.queue.stop();
            await sandbox?.stop();
            throw err;
          }
        }
        const stopped = new Promise<void>((resolve) => {
          const off = onShutdownSignal(() => {
            ctx.out.warn('serve: stopping (finishing in-flight requests and runs)');
            void Promise.all([server.stop(), children?.stop()]).finally(() => {
              off();
              resolve();
            });
          });
        });
        ctx.out.warn(
          `serve ${process.pid}: listening on ${server.url} (${db.backend === 'pglite' ? 'embedded PGlite' : 'PostgreSQL'} ${db.target}; ` +
            `${children ? `${workerProcesses} worker process${workerProcesses === 1 ? '' : 'es'} (pid ${children.pids().join(', ')}), ${workers} runs in flight each` : workers > 0 ? `${workers} runs in flight in-process` : 'no in-process workers'}; ${config.rules.length} trigger rule${config.rules.length === 1 ? '' : 's'}${config.file ? ` from ${config.file}` : ''})`,
        );
        if (ctx.out.json) ctx.out.result({ url: server.url, port: server.port, pid: process.pid });
        await stopped;
        await schedules?.stop();
        await engine.queue.stop();
        await sandbox?.stop();
        ctx.out.warn(`serve ${process.pid}: stopped`);
      }),
    );
}
