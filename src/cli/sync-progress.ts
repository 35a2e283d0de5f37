import cliProgress from 'cli-progress';
import type { SyncProgress } from '../sync/run-sync.ts';

/** The `sluice sync run` progress bar on stderr; silent when stderr is not a terminal. */
export function createSyncProgressBar(options: { enabled?: boolean } = {}) {
  const enabled = options.enabled ?? process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format:
        '{bar} {value}/{total} records | {created} created | {updated} updated | {requests} requests | {failed} failed | ETA {eta_formatted}',
      hideCursor: true,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p: SyncProgress) {
      if (!enabled) return;
      const c = p.counts;
      const payload = {
        created: c.created,
        updated: c.updated,
        requests: c.requests,
        failed: c.retryable + c.permanent,
      };
      if (!started) {
        bar.start(p.total, p.done, payload);
        started = true;
      } else bar.update(p.done, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
