import { Agent, request } from 'node:http';

/**
 * An open-loop load generator: request i is due at start + i / rate, whatever happened to the ones
 * before it (wrk2's and k6's constant-arrival-rate model). autocannon's `overallRate` is a per-second
 * quota instead: each connection sends its share back to back as soon as the second starts, then waits,
 * so "500 requests/s" arrives as bursts of 16 concurrent requests, and the figures measure the queue
 * of a burst rather than the server at 500 requests/s.
 *
 * Latency is counted from when a request was due, not from when it went out (coordinated omission:
 * a stalled server or a late client timer counts against the figure); `sent` is the client-side lag
 * (due → written) so the generator's own delays can be told apart.
 */
export interface PacedResult {
  /** Milliseconds from due to the last byte of the answer, one per answered request. */
  latencies: number[];
  /** Milliseconds from due to the request being handed to a socket. */
  lags: number[];
  statuses: Map<number, number>;
  errors: number;
  seconds: number;
}

export async function pacedLoad(o: {
  url: string;
  rate: number;
  seconds: number;
  path: () => string;
  headers: Record<string, string>;
  /** Most sockets open at once (default 64): a request due while all are busy waits for one. */
  maxSockets?: number;
}): Promise<PacedResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.maxSockets ?? 64 });
  const target = new URL(o.url);
  const total = Math.round(o.rate * o.seconds);
  const latencies: number[] = [];
  const lags: number[] = [];
  const statuses = new Map<number, number>();
  let errors = 0;
  let sent = 0;
  let settled = 0;
  const start = performance.now() + 20;
  await new Promise<void>((resolve) => {
    const fire = (due: number) => {
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: o.path(),
          method: 'GET',
          headers: o.headers,
        },
        (res) => {
          res.resume();
          res.once('end', () => {
            latencies.push(performance.now() - due);
            statuses.set(res.statusCode ?? 0, (statuses.get(res.statusCode ?? 0) ?? 0) + 1);
            if (++settled === total) resolve();
          });
        },
      );
      req.once('socket', () => lags.push(performance.now() - due));
      req.once('error', () => {
        errors++;
        if (++settled === total) resolve();
      });
      req.end();
    };
    // A 1 ms tick sends every request that has come due (timers are not finer than that).
    const tick = setInterval(() => {
      const now = performance.now();
      while (sent < total && start + (sent * 1000) / o.rate <= now) fire(start + (sent++ * 1000) / o.rate);
      if (sent >= total) clearInterval(tick);
    }, 1);
  });
  agent.destroy();
  return { latencies, lags, statuses, errors, seconds: o.seconds };
}
