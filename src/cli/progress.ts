import cliProgress from 'cli-progress';
import type { BatchProgress } from '../engine/batch.ts';
import type { CallCounters } from '../engine/run-gateway.ts';

/**
 * The `sluice run` progress bar on stderr: runs done/total, calls/s, ETA, cost so far and cache hit
 * rate. Silent when stderr is not a terminal (logs, CI) so nothing garbles redirected output.
 */
export interface ProgressBar {
  update(progress: BatchProgress, counters: CallCounters): void;
  stop(): void;
}

export function createProgressBar(total: number, options: { enabled?: boolean } = {}): ProgressBar {
  const enabled = options.enabled ?? process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      // the {cost} token already carries its dollar sign (see update)
      format:
        '{bar} {value}/{total} runs | {rate} calls/s | ETA {eta_formatted} | {cost} | cache {hits}% | {failed} failed',
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
      noTTYOutput: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  if (enabled) bar.start(total, 0, { rate: '0.0', cost: '$0.00', hits: 0, failed: 0 });
  return {
    update(p, counters) {
      if (!enabled) return;
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      bar.update(p.enriched + p.partial + p.failed, {
        rate: (counters.calls / seconds).toFixed(1),
        cost: `$${Math.max(p.costUsd, counters.costUsd).toFixed(2)}`,
        hits: counters.calls > 0 ? Math.round((100 * counters.cacheHits) / counters.calls) : 0,
        failed: p.failed,
      });
    },
    stop() {
      if (enabled) bar.stop();
    },
  };
}
