import { ConfigError } from '../errors.ts';

/** Shared parsing for `sluice run` / `sluice worker` options. */
export function parsePositive(option: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new ConfigError(`${option} must be a positive whole number, got "${raw}"`, { exitCode: 2 });
  return n;
}

export function parseIds(raw: string): number[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => parsePositive('--ids', s));
}

/**
 * Calls `onStop` on the first SIGINT/SIGTERM (graceful stop); a second signal exits at once
 * (queued work is safe either way: claims return to the queue after their heartbeat lapses).
 * Returns a function removing the handlers.
 */
export function onShutdownSignal(onStop: () => void): () => void {
  let seen = false;
  const handler = (signal: NodeJS.Signals) => {
    if (seen) process.exit(signal === 'SIGINT' ? 130 : 143);
    seen = true;
    onStop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
