import { ConfigError } from '../errors.ts';

/** `--every 15m` → ms (`90s`, `15m`, `2h`); a ConfigError naming the option otherwise. */
export function parseEvery(option: string, value: string): number {
  const m = /^(\d+)(s|m|h)$/.exec(value.trim());
  const ms = m ? Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'] : 0;
  if (!m || ms < 10_000)
    throw new ConfigError(
      `${option} ${JSON.stringify(value)}: give a duration of at least 10s, e.g. 90s, 15m or 2h`,
      {
        exitCode: 2,
      },
    );
  return ms;
}

/** Runs `fn` now and then every `ms` until the process is interrupted (Ctrl-C ends it after a run). */
export async function repeatEvery(ms: number | undefined, fn: () => Promise<void>): Promise<void> {
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  if (ms) process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    for (;;) {
      await fn();
      if (!ms || stop) return;
      const until = Date.now() + ms;
      while (!stop && Date.now() < until)
        await new Promise((r) => setTimeout(r, Math.min(500, until - Date.now())));
      if (stop) return;
    }
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}
