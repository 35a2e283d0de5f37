import type { Command } from 'commander';
import { action, warnError } from './context.ts';
import { onShutdownSignal, parsePositive } from './run-options.ts';

interface WorkerOptions {
  concurrency?: string;
  heartbeatSeconds?: string;
  json?: boolean;
  schedules?: boolean;
  sandbox?: boolean;
  exitWithParent?: boolean;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'work queued runs until stopped (SIGINT/SIGTERM); run several, on several machines, against one PostgreSQL',
    )
    .option('--concurrency <n>', 'runs in flight at once in this process', '10')
    .option('--heartbeat-seconds <s>', "a killed worker's runs are picked up again after this (min 10)", '20')
    .option('--json', 'print the final counts as one JSON object')
    .option('--no-schedules', 'do not run schedules in this process (`sluice schedules list`)')
    .option(
      '--sandbox',
      'answer every provider from the local sandbox (fake servers and LLM), like `sluice demo`',
    )
    .option(
      '--exit-with-parent',
      'stop (finishing in-flight runs) when standard input closes: how `serve --worker-processes` ties its workers to itself',
    )
    .action(
      action(async (ctx, o: WorkerOptions) => {
        // loaded here, not at the top: `sluice --help` registers every command and needs none of this
        const [{ startWorker }, { startScheduleRunner }, { startPresence }, { openServeEngine }] =
          await Promise.all([
            import('../engine/worker-loop.ts'),
            import('../schedules/schedule-runner.ts'),
            import('../server/presence.ts'),
            import('../server/serve-engine.ts'),
          ]);
        const concurrency = parsePositive('--concurrency', o.concurrency ?? '10');
        const heartbeatSeconds = Math.max(
          10,
          parsePositive('--heartbeat-seconds', o.heartbeatSeconds ?? '20'),
        );
        const db = await ctx.db();
        const { engine, sandbox } = await openServeEngine(ctx.config, db, {
          sandbox: o.sandbox === true,
          heartbeatSeconds,
        });
        const worker = startWorker({
          engine,
          concurrency,
          heartbeatSeconds,
          onError: (err) => warnError(ctx, 'worker', err),
          onNotice: (line) => ctx.out.warn(`worker: ${line}`),
        });
        // What /health and `sluice status` count as "workers seen recently".
        const presence = startPresence(db, 'worker', concurrency, (err) =>
          warnError(ctx, 'worker: presence', err),
        );
        // Schedules: every worker runs cron passes and takes firings; pg-boss sends each occurrence once.
        const schedules =
          o.schedules === false
            ? undefined
            : await startScheduleRunner({
                services: { db, env: ctx.config.env, engine, log: (line) => ctx.out.warn(`worker: ${line}`) },
                cronIntervalSeconds: ctx.config.cronIntervalSeconds,
                onError: (err) => warnError(ctx, 'worker: schedules', err),
                onFired: (run) =>
                  ctx.out.warn(
                    `worker: schedule ${run.schedule} #${run.id}: ${run.state}${run.error ? `: ${run.error}` : ''}`,
                  ),
              }).catch(async (err: unknown) => {
                worker.stop();
                await worker.done;
                await engine.queue.stop();
                await sandbox?.stop();
                throw err;
              });
        const off = onShutdownSignal(() => {
          ctx.out.warn('worker: stopping (finishing in-flight runs)');
          worker.stop();
        });
        if (o.exitWithParent) {
          // the parent holds the other end of stdin: it closes when the parent exits, however it died
          process.stdin.on('end', () => {
            ctx.out.warn('worker: the parent process is gone; stopping (finishing in-flight runs)');
            worker.stop();
          });
          process.stdin.resume();
        }
        ctx.out.warn(`worker ${process.pid}: working (concurrency ${concurrency}) on ${db.target}`);
        try {
          const counts = await worker.done;
          if (ctx.out.json) ctx.out.result(counts);
          else ctx.out.warn(`worker ${process.pid}: stopped; ${JSON.stringify(counts)}`);
        } finally {
          off();
          await schedules?.stop();
          await presence.stop();
          await engine.queue.stop();
          await sandbox?.stop();
          if (o.exitWithParent) process.stdin.destroy();
        }
      }),
    );
}
