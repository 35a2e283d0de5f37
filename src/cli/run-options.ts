import { InvalidArgumentError } from 'commander';
import { ConfigError } from '../errors.ts';

/** Shared parsing for `sluice run` / `sluice worker` options. */
export function parsePositive(option: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new ConfigError(`${option} must be a positive whole number, got "${raw}"`, { exitCode: 2 });
  return n;
}

/**
 * `--ids 1,2,3`; an empty list is refused: `--ids "$IDS"` with an empty variable must not select
 * everything. `empty` words the refusal for the command (what an id names, what leaving it out does).
 */
export function parseIds(
  raw: string,
  empty = { noun: 'account', omitted: 'nothing was queued; leave --ids out to select every account' },
): number[] {
  const ids = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => parsePositive('--ids', s));
  if (ids.length === 0)
    throw new ConfigError(
      `--ids ${JSON.stringify(raw)} names no ${empty.noun}: give ids such as --ids 1,2,3 (${empty.omitted})`,
      { exitCode: 2 },
    );
  return ids;
}

/**
 * A commander argument parser for an option that may be given once: a second `--where` (or `--ids`,
 * `--budget`…) would otherwise silently replace the first, and `--where state=VA --where city=Richmond`
 * would select every Richmond account. `how` says how to say both at once.
 */
export function once(flag: string, how: string) {
  return (value: string, previous: string | undefined): string => {
    if (previous !== undefined)
      throw new InvalidArgumentError(
        `${flag} was given twice (${JSON.stringify(previous)}, then ${JSON.stringify(value)}); ${how}`,
      );
    return value;
  };
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
