import type { Command } from 'commander';
import { type Config, loadConfig } from '../config/config.ts';
import type { Db } from '../db/db.ts';
import { openDb } from '../db/open-db.ts';
import { createOutput, type Output } from './output.ts';

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
  let opened: Promise<Db> | undefined;
  return {
    config,
    out,
    db() {
      opened ??= openDb({
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
    try {
      await fn(ctx, options, ...args);
    } finally {
      await ctx.close();
    }
  };
}
