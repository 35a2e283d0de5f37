import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { config as loadDotenv } from 'dotenv';
import { ConfigError, SluiceError } from '../errors.ts';
import { redactSecrets } from '../logger.ts';
import { registerCache } from './cache.ts';
import { registerDemo } from './demo.ts';
import { registerDlq } from './dlq.ts';
import { registerExport } from './export.ts';
import { registerImport } from './import.ts';
import { registerLedger } from './ledger.ts';
import { registerPipelines } from './pipelines.ts';
import { registerProviders } from './providers.ts';
import { registerRun } from './run.ts';
import { registerSandbox } from './sandbox.ts';
import { registerStatus } from './status.ts';
import { registerWorker } from './worker.ts';

/** Exit codes: 0 success, 1 failure, 2 usage error. */
export function buildProgram(): Command {
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
  registerStatus(program);
  registerImport(program);
  registerExport(program);
  registerPipelines(program);
  registerDemo(program);
  registerRun(program);
  registerWorker(program);
  registerDlq(program);
  registerCache(program);
  registerLedger(program);
  registerProviders(program);
  registerSandbox(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  loadDotenv({ quiet: true });
  const program = buildProgram();
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
