import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { config as loadDotenv } from 'dotenv';
import { dotenvKeys } from './context.ts';
import { completedExitCode, exitCodeOf, reportError, resetOutcome } from './output.ts';

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
  crm: async () => (await import('./crm.ts')).registerCrm,
  outreach: async () => (await import('./outreach.ts')).registerOutreach,
  serve: async () => (await import('./serve.ts')).registerServe,
  keys: async () => (await import('./keys.ts')).registerKeys,
  webhooks: async () => (await import('./webhooks.ts')).registerWebhooks,
  patterns: async () => (await import('./patterns.ts')).registerPatterns,
  optimize: async () => (await import('./optimize.ts')).registerOptimize,
  retro: async () => (await import('./retro.ts')).registerRetro,
  alerts: async () => (await import('./alerts.ts')).registerAlerts,
  schedules: async () => (await import('./schedules.ts')).registerSchedules,
  freshness: async () => (await import('./freshness.ts')).registerFreshness,
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

/** True when the command line asks for JSON output (`--json` before any `--`). */
export function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/** Exit codes: 0 everything asked for was done, 1 failure or unfinished work, 2 usage error. */
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

/**
 * A closed stdout (`sluice export | head -1`) ends the process quietly with exit code 0: the reader
 * has what it wanted. The exit handlers still run (the data-dir lock is released); nothing is
 * written by a reader-side close, so nothing is lost.
 */
function endQuietlyOnClosedPipe(): void {
  const onError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(0);
    throw err;
  };
  process.stdout.on('error', onError);
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

const isEpipe = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';

/**
 * What the process does once around `main` (src/cli/entry.ts): a closed stdout ends quietly, and
 * anything escaping a command (an error thrown from a timer or stream) ends the same way as a thrown
 * error: one line, no stack unless SLUICE_DEBUG. Not installed by `main` itself, so a test can call
 * `main` in-process (the bad-input corpus) without process-wide handlers.
 */
export function installProcessHandlers(args: readonly string[]): void {
  const json = wantsJson(args);
  endQuietlyOnClosedPipe();
  const fatal = (err: unknown) => {
    if (isEpipe(err)) process.exit(0);
    reportError(err, { json });
    process.exit(exitCodeOf(err));
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}

/** Runs one command line (`argv` as process.argv: node, script, args…); resolves to the exit code. */
export async function main(argv = process.argv): Promise<number> {
  const args = argv.slice(2);
  const json = wantsJson(args);
  resetOutcome();
  dotenvKeys.clear();
  const before = new Set(Object.keys(process.env));
  const loaded = loadDotenv({ quiet: true });
  for (const key of Object.keys(loaded.parsed ?? {})) if (!before.has(key)) dotenvKeys.add(key);
  const program = await buildProgram(args);
  try {
    await program.parseAsync(argv);
    return completedExitCode();
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return 0;
      // commander already printed the message on stderr
      if (json)
        reportError(err, {
          json,
          code: 'usage',
          message: err.message.replace(/^error: /, ''),
          details: { reason: err.code },
          quietStderr: true,
        });
      return 2;
    }
    if (isEpipe(err)) return 0;
    reportError(err, { json });
    return exitCodeOf(err);
  }
}
