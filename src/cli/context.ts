import type { Command } from 'commander';
import { type Config, loadConfig } from '../config/config.ts';
import type { Db } from '../db/db.ts';
import { openDb } from '../db/open-db.ts';
import { type Logger, processLogger } from '../logger.ts';
import { registerSecretsFromEnv } from '../secrets/redact.ts';
import { createOutput, type Output } from './output.ts';

/**
 * How commands open their database. A test running `main` in-process (the bad-input corpus) may hand
 * back a database it holds open for the same target, instead of opening it once per command.
 */
export const databaseOpener: { open: typeof openDb } = { open: openDb };

/** Variables main.ts loaded from `.env` (not set in the environment), for messages naming their origin. */
export const dotenvKeys = new Set<string>();

/** Global options every command inherits (declared on the root program in main.ts). */
export interface GlobalOptions {
  dataDir?: string;
  databaseUrl?: string;
}

export interface CommandContext {
  config: Config;
  out: Output;
  /** Structured logs (SLUICE_LOG_LEVEL, SLUICE_LOG_FILE), secrets redacted. */
  log: Logger;
  /** Opens (and migrates) the configured database once; closed by `close()`. */
  db(): Promise<Db>;
  close(): Promise<void>;
}

export function createContext(cmd: Command, options: { json?: boolean }): CommandContext {
  const globals = cmd.optsWithGlobals<GlobalOptions>();
  let root = cmd;
  while (root.parent) root = root.parent;
  const source = root.getOptionValueSource('dataDir');
  const config = loadConfig(process.env, {
    dataDir: globals.dataDir,
    databaseUrl: globals.databaseUrl,
    ...(source === 'env' ? { dataDirSource: 'env' as const } : {}),
    fromDotenv: dotenvKeys,
  });
  const out = createOutput({ json: options.json, color: config.color });
  for (const n of config.notices) out.warn(n);
  // Every secret-looking variable (provider keys, tokens, DATABASE_URL) is scrubbed from any text
  // Sluice prints, logs or stores from here on.
  registerSecretsFromEnv(config.env);
  const log = processLogger({
    level: config.logLevel,
    file: config.logFile,
    retentionDays: config.logRetentionDays,
  });
  let opened: Promise<Db> | undefined;
  return {
    config,
    out,
    log,
    db() {
      opened ??= databaseOpener.open({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        ...(config.dbSchema ? { schema: config.dbSchema } : {}),
      });
      return opened;
    },
    async close() {
      if (opened) await (await opened).close();
    },
  };
}

/**
 * Wraps a command action: builds the context, runs, always closes the database.
 * Errors propagate to main.ts, which maps them to exit codes.
 */
export function action<O extends { json?: boolean }, A extends unknown[]>(
  fn: (ctx: CommandContext, options: O, ...args: A) => Promise<void>,
) {
  return async (...all: unknown[]) => {
    const cmd = all[all.length - 1] as Command;
    const options = all[all.length - 2] as O;
    const args = all.slice(0, -2) as A;
    const ctx = createContext(cmd, options);
    const command = commandPath(cmd);
    const started = Date.now();
    ctx.log.debug({ command }, 'command started');
    try {
      await fn(ctx, options, ...args);
      ctx.log.debug({ command, durationMs: Date.now() - started }, 'command finished');
    } catch (err) {
      ctx.log.debug({ command, durationMs: Date.now() - started, err }, 'command failed');
      throw err;
    } finally {
      await ctx.close();
    }
  };
}

/** `run`, `dlq show`: the command's names under the root program. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * A runtime error of a long-running command (a worker's failed run), on stderr as one line, and in
 * the log file with its stack when SLUICE_LOG_FILE is set. Both are scrubbed of secrets.
 */
export function warnError(ctx: CommandContext, prefix: string, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  if (ctx.config.logFile) ctx.log.error({ err }, `${prefix}: ${message}`);
  ctx.out.warn(`${prefix}: ${message}`);
}
