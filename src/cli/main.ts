import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { config as loadDotenv } from 'dotenv';
import { ConfigError, SluiceError } from '../errors.ts';
import { redactSecrets } from '../logger.ts';

type Register = (program: Command) => void;

/**
 * Commands in help order, each loaded only when needed: a command's module pulls in its subsystem
 * (PGlite, the AI SDK, pg-boss…), and loading all of them would cost every command ~100 MB of memory
 * and start-up time. `sluice import` loads the importer only.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  status: async () => (await import('./status.ts')).registerStatus,
  import: async () => (await import('./import.ts')).registerImport,
  export: async () => (await import('./export.ts')).registerExport,
  pipelines: async () => (await import('./pipelines.ts')).registerPipelines,
  demo: async () => (await import('./demo.ts')).registerDemo,
  run: async () => (await import('./run.ts')).registerRun,
  worker: async () => (await import('./worker.ts')).registerWorker,
  dlq: async () => (await import('./dlq.ts')).registerDlq,
  cache: async () => (await import('./cache.ts')).registerCache,
  ledger: async () => (await import('./ledger.ts')).registerLedger,
  providers: async () => (await import('./providers.ts')).registerProviders,
  sandbox: async () => (await import('./sandbox.ts')).registerSandbox,
  sync: async () => (await import('./sync.ts')).registerSync,
  serve: async () => (await import('./serve.ts')).registerServe,
  keys: async () => (await import('./keys.ts')).registerKeys,
  webhooks: async () => (await import('./webhooks.ts')).registerWebhooks,
  patterns: async () => (await import('./patterns.ts')).registerPatterns,
  optimize: async () => (await import('./optimize.ts')).registerOptimize,
};

/** Root options that take a value, so the command name can be found after them. */
const ROOT_OPTIONS_WITH_VALUE = new Set(['--data-dir', '--database-url']);

/** The command named in argv (after node and script), or undefined for root help/version/unknown. */
export function commandName(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (ROOT_OPTIONS_WITH_VALUE.has(a)) i++;
    else if (!a.startsWith('-')) return Object.hasOwn(COMMANDS, a) ? a : undefined;
  }
  return undefined;
}

/** Exit codes: 0 success, 1 failure, 2 usage error. */
export async function buildProgram(args: readonly string[] = []): Promise<Command> {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const program = new Command('sluice')
    .description(
      'Sluice: import, enrich and keep GTM data with provenance, through one gateway for every paid call.',
    )
    .version(pkg.version)
    .addOption(new Option('--data-dir <dir>', 'embedded database directory').env('SLUICE_DATA_DIR'))
    .addOption(
      new Option(
        '--database-url <url>',
        'server PostgreSQL connection string (instead of the embedded database)',
      ),
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const only = commandName(args);
  const names = only ? [only] : Object.keys(COMMANDS);
  for (const register of await Promise.all(names.map((n) => COMMANDS[n]!()))) register(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  loadDotenv({ quiet: true });
  const program = await buildProgram(argv.slice(2));
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return 0;
      return 2; // commander already printed the message
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`error: ${redactSecrets(message)}\n`);
    if (process.env.SLUICE_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    if (err instanceof ConfigError) return err.exitCode;
    if (!(err instanceof SluiceError) && !process.env.SLUICE_DEBUG) {
      process.stderr.write('(set SLUICE_DEBUG=1 for the stack trace)\n');
    }
    return 1;
  }
}

process.exitCode = await main();
