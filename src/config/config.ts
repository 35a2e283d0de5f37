import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';

/**
 * The one module that reads `process.env`. Everything else receives a `Config`.
 * `.env` in the working directory is loaded by the CLI before this runs (variables already set win).
 */
const envSchema = z.object({
  /** Server PostgreSQL (Supabase works); when unset, the embedded PGlite database is used. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  /** Embedded database directory. Default `./.sluice`. */
  SLUICE_DATA_DIR: z.string().min(1).optional(),
  /** Default region for phone numbers without a country code (ISO 3166 alpha-2). Default `US`. */
  SLUICE_DEFAULT_REGION: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'must be a two-letter country code such as US or GB')
    .refine(isRegion, 'not a country code; use two letters such as US, GB or DE')
    .optional(),
  /** pino level. Default `info` (`warn` for the CLI's own output). */
  SLUICE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  /** Structured logs to this file (rolled daily) instead of stderr. */
  SLUICE_LOG_FILE: z.string().min(1).optional(),
  /** Days rolled log files are kept. Default 30. */
  SLUICE_LOG_RETENTION_DAYS: z.coerce.number().int().positive().optional(),
  /** Isolate Sluice's tables in this schema instead of `public` (tests, several instances on one server). */
  SLUICE_DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,50}$/, 'must be a lowercase SQL identifier such as sluice_test')
    .optional(),
  /** Any value disables colour (https://no-color.org). */
  NO_COLOR: z.string().optional(),
  /** Throttle ceiling: reschedules of one run without progress before it goes to the DLQ as `throttled`. Default 20. */
  SLUICE_THROTTLE_MAX_RESCHEDULES: z.coerce.number().int().positive().optional(),
  /** Throttle ceiling in minutes (whichever comes first). Default 30. */
  SLUICE_THROTTLE_MAX_MINUTES: z.coerce.number().positive().optional(),
  /** Seconds between the cron passes of `serve` and `worker` (when a schedule's occurrence is sent). Default 30. */
  SLUICE_CRON_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3600).optional(),
  /** `sluice run` asks for confirmation (or `--yes`) above this many records. Default 100. */
  SLUICE_CONFIRM_RECORDS: z.coerce.number().int().nonnegative().optional(),
  /** …or above this forecast cost in USD. Default 10. */
  SLUICE_CONFIRM_USD: z.coerce.number().nonnegative().optional(),
});

/** ISO 3166 regions the runtime knows (`XX`, `QQ` are not; the phone library checks the rest). */
function isRegion(code: string): boolean {
  const name = new Intl.DisplayNames(['en'], { type: 'region' }).of(code.toUpperCase());
  return name !== undefined && name !== code.toUpperCase() && name !== 'Unknown Region';
}

export interface Config {
  /** Set when server Postgres is used. */
  databaseUrl: string | undefined;
  /** Absolute path of the embedded database directory. */
  dataDir: string;
  defaultRegion: string;
  /** Schema holding Sluice's tables; undefined = `public`. */
  dbSchema: string | undefined;
  logLevel: z.infer<typeof envSchema>['SLUICE_LOG_LEVEL'] & string;
  /** Log file (rolled daily, kept `logRetentionDays`), or undefined for stderr. */
  logFile: string | undefined;
  logRetentionDays: number;
  color: boolean;
  /** A run throttled past either ceiling goes to the dead-letter queue as `throttled`. */
  throttleCeiling: { maxReschedules: number; maxMs: number };
  /** A selection above either threshold needs confirmation on a terminal, or `--yes`. */
  confirmAbove: { records: number; costUsd: number };
  /** Seconds between cron passes in `serve`/`worker` (`SLUICE_CRON_INTERVAL_SECONDS`). Default 30. */
  cronIntervalSeconds: number;
  /** The raw environment, for provider keys and base URLs (read through providers/credentials). */
  env: Readonly<Record<string, string | undefined>>;
  /** Surprises worth a warning on stderr (which of two database settings wins). */
  notices: string[];
}

export interface ConfigOverrides {
  dataDir?: string;
  databaseUrl?: string;
  /** Where `dataDir` came from: the `--data-dir` flag, or SLUICE_DATA_DIR (commander reads both). */
  dataDirSource?: 'flag' | 'env';
  /** Variables that came from `.env` rather than the environment, for messages. */
  fromDotenv?: ReadonlySet<string>;
}

export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: ConfigOverrides = {},
): Config {
  // An empty variable (`DATABASE_URL= sluice …`) means unset.
  const parsed = envSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '' && v !== undefined)),
  );
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? '?');
    throw new ConfigError(
      `environment variable ${key}=${JSON.stringify(env[key])} is invalid: ${issue?.message}. Fix or unset it (it may come from .env).`,
      { exitCode: 2 },
    );
  }
  const e = parsed.data;
  const notices: string[] = [];
  const origin = (key: string) => (overrides.fromDotenv?.has(key) ? `${key} (from .env)` : key);
  let databaseUrl = overrides.databaseUrl ?? e.DATABASE_URL;
  const dataDirSource = overrides.dataDir !== undefined ? (overrides.dataDirSource ?? 'flag') : undefined;
  if (overrides.databaseUrl && dataDirSource === 'flag')
    throw new ConfigError(
      '--data-dir (the embedded database) and --database-url (server PostgreSQL) were both given; pass one',
      { exitCode: 2 },
    );
  if (databaseUrl && !overrides.databaseUrl && dataDirSource === 'flag') {
    // An explicit flag beats a variable: scratch work with --data-dir never lands in the server database.
    notices.push(
      `warning: --data-dir given, so the embedded database in ${resolve(overrides.dataDir!)} is used; ${origin('DATABASE_URL')} is ignored for this command`,
    );
    databaseUrl = undefined;
  } else if (databaseUrl && (dataDirSource === 'env' || e.SLUICE_DATA_DIR)) {
    notices.push(
      `warning: ${origin('DATABASE_URL')} is set, so server PostgreSQL is used and ${origin('SLUICE_DATA_DIR')} is ignored; unset one of them`,
    );
  }
  return {
    databaseUrl,
    notices,
    dataDir: resolve(overrides.dataDir ?? e.SLUICE_DATA_DIR ?? '.sluice'),
    defaultRegion: (e.SLUICE_DEFAULT_REGION ?? 'US').toUpperCase(),
    dbSchema: e.SLUICE_DB_SCHEMA,
    logLevel: e.SLUICE_LOG_LEVEL ?? 'info',
    logFile: e.SLUICE_LOG_FILE,
    logRetentionDays: e.SLUICE_LOG_RETENTION_DAYS ?? 30,
    color: e.NO_COLOR === undefined || e.NO_COLOR === '',
    throttleCeiling: {
      maxReschedules: e.SLUICE_THROTTLE_MAX_RESCHEDULES ?? 20,
      maxMs: (e.SLUICE_THROTTLE_MAX_MINUTES ?? 30) * 60_000,
    },
    confirmAbove: { records: e.SLUICE_CONFIRM_RECORDS ?? 100, costUsd: e.SLUICE_CONFIRM_USD ?? 10 },
    cronIntervalSeconds: e.SLUICE_CRON_INTERVAL_SECONDS ?? 30,
    env,
  };
}
