import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import pino from 'pino';
import { redactSecrets } from './secrets/redact.ts';

/**
 * Structured logs (pino): one JSON object a line, to stderr, or to a file (`SLUICE_LOG_FILE`) rolled
 * daily by pino-roll and kept `SLUICE_LOG_RETENTION_DAYS` days (default 30). `SLUICE_LOG_LEVEL` sets
 * the level (default `info`) in every command: the CLI builds the process logger in createContext.
 *
 * Secrets never reach a log line, three ways: members named like a credential (`authorization`,
 * `apiKey`, `token`…, at any of the first three levels) are censored; every string of a log object
 * and every message, error message and stack goes through `redactSecrets` (known secret values,
 * `api_key=` query parameters, Bearer tokens, URL passwords).
 */
export type Logger = pino.Logger;

export interface LogSettings {
  level: string;
  /** A file path: logs go there, rolled daily, instead of stderr. */
  file?: string | undefined;
  /** Days a rolled file is kept. Default 30. */
  retentionDays?: number | undefined;
}

const SECRET_KEYS = [
  'apiKey',
  'api_key',
  'apikey',
  'authorization',
  'Authorization',
  'x-api-key',
  'X-API-KEY',
  'x-api-secret',
  'cookie',
  'set-cookie',
  'password',
  'secret',
  'token',
  'accessToken',
  'access_token',
  'databaseUrl',
  'DATABASE_URL',
];

const quoted = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `["${k}"]`);
export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [
  quoted(k).replace(/^\./, ''),
  `*${quoted(k)}`,
  `*.*${quoted(k)}`,
]);

/** Scrubs every string of a log object; Errors are left to the `err` serializer (which scrubs them). */
function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (depth > 6 || value === null || typeof value !== 'object' || value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  if (value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, depth + 1)]));
}

function errSerializer(err: Error): Record<string, unknown> {
  return scrub({ ...pino.stdSerializers.err(err) }) as Record<string, unknown>;
}

/** A logger writing to `destination` (stderr by default). */
export function createLogger(
  level = 'info',
  destination: pino.DestinationStream = pino.destination({ dest: 2, sync: true }),
): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: errSerializer, error: errSerializer },
      formatters: { log: (obj) => scrub(obj) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a)) as Parameters<typeof method>,
          );
        },
      },
    },
    destination,
  );
}

/**
 * Deletes rolled files of `file` (same directory, same base name, same extension) last written more
 * than `days` days ago. pino-roll's own limit counts files of one process only; CLI commands are short
 * processes, so retention is by age, checked whenever a logger opens the file.
 */
export function pruneLogFiles(file: string, days: number, now = Date.now()): string[] {
  const dir = dirname(file);
  const ext = extname(file) || '.log';
  const stem = basename(file, extname(file));
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(`${stem}.`) || !name.endsWith(ext)) continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > days * 86_400_000) {
        unlinkSync(path);
        removed.push(path);
      }
    } catch {
      // gone already, or not ours to delete
    }
  }
  return removed;
}

/** A logger for the settings: stderr, or a daily-rolled file with retention. */
export function openLogger(settings: LogSettings): Logger {
  if (!settings.file) return createLogger(settings.level);
  const file = resolve(settings.file);
  const days = settings.retentionDays ?? 30;
  mkdirSync(dirname(file), { recursive: true });
  pruneLogFiles(file, days);
  const transport = pino.transport({
    target: 'pino-roll',
    options: {
      file,
      frequency: 'daily',
      dateFormat: 'yyyy-MM-dd',
      mkdir: true,
      limit: { count: days, removeOtherLogFiles: true },
    },
  });
  return createLogger(settings.level, transport);
}

let processLog: { key: string; logger: Logger } | undefined;

/**
 * The process's logger, built once from the settings (the CLI calls this from createContext with
 * the Config; later calls with the same settings return the same logger). Without settings: the
 * current one, or `info` to stderr.
 */
export function processLogger(settings?: LogSettings): Logger {
  const key = settings
    ? JSON.stringify([settings.level, settings.file ?? '', settings.retentionDays ?? 30])
    : '';
  if (processLog && (!settings || processLog.key === key)) return processLog.logger;
  const logger = openLogger(settings ?? { level: 'info' });
  if (processLog) processLog.logger.flush();
  processLog = { key, logger };
  return logger;
}

export { redactSecrets } from './secrets/redact.ts';
