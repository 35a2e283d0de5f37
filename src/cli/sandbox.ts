import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { SANDBOX_BANNER, startSandbox } from '../sandbox/start-sandbox.ts';
import { action } from './context.ts';

export function registerSandbox(program: Command): void {
  const cmd = program
    .command('sandbox')
    .description('simulated providers (fake Hunter, Apollo, Perplexity, Jina, websites) on local ports');
  cmd
    .command('start')
    .description('serve the sandbox fakes until Ctrl-C and print the env lines that point Sluice at them')
    .option('--seed <n>', 'world seed', '1')
    .option('--port <n>', 'first port (each fake takes the next one); default: any free ports')
    .option('--latency-scale <x>', 'multiply every simulated latency (0 = instant)', '1')
    .option('--fault-rate <x>', 'share of calls failing with a transient 5xx', '0.01')
    .action(
      action(
        async (
          ctx,
          options: { seed: string; port?: string; latencyScale: string; faultRate: string; json?: boolean },
        ) => {
          const num = (name: string, v: string | undefined) => {
            const n = Number(v);
            if (v !== undefined && (!Number.isFinite(n) || n < 0))
              throw new ConfigError(`--${name} must be a non-negative number, got ${JSON.stringify(v)}`, {
                exitCode: 2,
              });
            return v === undefined ? undefined : n;
          };
          const sandbox = await startSandbox({
            seed: num('seed', options.seed),
            port: num('port', options.port),
            fakes: {
              latencyScale: num('latency-scale', options.latencyScale),
              faultRate: num('fault-rate', options.faultRate),
            },
          });
          ctx.out.warn(SANDBOX_BANNER);
          ctx.out.line(
            `# ${sandbox.world.courses.length} golf courses, ${sandbox.world.companies.length - sandbox.world.courses.length} other companies, ${sandbox.world.people.length} people (seed ${sandbox.world.seed})`,
          );
          ctx.out.line('# paste into your shell or .env to use the fakes:');
          for (const [k, v] of Object.entries(sandbox.env)) ctx.out.line(`${k}=${v}`);
          const sample = sandbox.world.courses.find((c) => c.website && c.staffPath);
          if (sample)
            ctx.out.line(
              `# try: curl ${sandbox.baseUrls.website}/${sample.website}${sample.staffPath?.slice(1)}`,
            );
          ctx.out.line('# Ctrl-C to stop');
          await new Promise<void>((resolve) => {
            const stop = () => resolve();
            process.once('SIGINT', stop);
            process.once('SIGTERM', stop);
          });
          await sandbox.stop();
        },
      ),
    );
}
