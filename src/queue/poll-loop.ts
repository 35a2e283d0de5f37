import { setTimeout as sleep } from 'node:timers/promises';

export interface PollLoop {
  /** Run a tick now instead of waiting for the interval (e.g. right after new work was written). */
  nudge(): void;
  /** Stops after the current tick; resolves when it is over. */
  stop(): Promise<void>;
}

/**
 * The loop behind Sluice's table-backed queues (webhook deliveries, inbound hook events, record events,
 * jobs): `tick` claims and handles a chunk and resolves true when there may be more, in which case the
 * next tick starts at once; otherwise it waits `intervalMs` or a nudge. Errors (database briefly gone)
 * are reported and the loop goes on.
 */
export function startPollLoop(
  tick: () => Promise<boolean>,
  options: { intervalMs: number; onError?: (err: unknown) => void },
): PollLoop {
  let stopping = false;
  let wake: () => void = () => {};
  let pending = false;
  const ac = new AbortController();
  const done = (async () => {
    while (!stopping) {
      let more = false;
      pending = false;
      try {
        more = await tick();
      } catch (err) {
        options.onError?.(err);
      }
      if (more || pending || stopping) continue;
      await Promise.race([
        sleep(options.intervalMs, undefined, { signal: ac.signal }).catch(() => {}),
        new Promise<void>((resolve) => {
          wake = resolve;
        }),
      ]);
    }
  })();
  return {
    nudge() {
      pending = true;
      wake();
    },
    async stop() {
      stopping = true;
      ac.abort();
      wake();
      await done;
    },
  };
}
