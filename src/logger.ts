import pino from 'pino';
import { redactSecrets } from './secrets/redact.ts';

/**
 * Structured logs (pino) to stderr. Secrets never reach a log line: known key names are redacted
 * wherever they appear, and `redactSecrets` scrubs strings such as URLs with `api_key=` in them.
 */
export type Logger = pino.Logger;

const SECRET_KEYS = [
  'apiKey',
  'api_key',
  'authorization',
  'Authorization',
  'x-api-key',
  'X-API-KEY',
  'password',
  'secret',
  'token',
  'databaseUrl',
  'DATABASE_URL',
];

export function createLogger(
  level = 'info',
  destination: pino.DestinationStream = pino.destination(2),
): Logger {
  return pino(
    {
      level,
      redact: {
        paths: [...SECRET_KEYS, ...SECRET_KEYS.map((k) => `*.${k}`), ...SECRET_KEYS.map((k) => `*.*.${k}`)],
        censor: '[redacted]',
      },
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

export { redactSecrets } from './secrets/redact.ts';
