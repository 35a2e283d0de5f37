import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** The payload if the Standard Webhooks signature verified with `secret`, else the error. */
  verified: unknown;
}

export interface ReceiverOptions {
  /** The answer's body for request `n` (0-based). Default "ok" / "no". */
  body?: (n: number) => string;
  /** Requests (0-based indexes) that get no answer at all: the connection is held open. */
  stall?: number[];
  /** Listen on this port (a receiver restarted at the same URL). Default: any free port. */
  port?: number;
}

/**
 * A local webhook receiver on 127.0.0.1:<free port>: answers each request with the next status of
 * `statuses` (the last one repeats) and verifies every signature with the `standardwebhooks` package.
 */
export async function startReceiver(statuses: number[] = [200], options: ReceiverOptions = {}) {
  const received: Received[] = [];
  let secret: string | undefined;
  const waiters: (() => void)[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      let verified: unknown;
      try {
        verified = secret
          ? new Webhook(secret).verify(body, req.headers as Record<string, string>)
          : new Error('no secret set');
      } catch (err) {
        verified = err;
      }
      const n = received.length;
      const status = statuses[Math.min(n, statuses.length - 1)]!;
      received.push({ headers: req.headers, body, verified });
      for (const w of waiters.splice(0)) w();
      if (options.stall?.includes(n)) return;
      res.writeHead(
        status,
        status >= 300 && status < 400 ? { location: 'http://127.0.0.1:9/elsewhere' } : {},
      );
      res.end(options.body?.(n) ?? (status < 300 ? 'ok' : 'no'));
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/receive`;
  return {
    url,
    received,
    setSecret(s: string) {
      secret = s;
    },
    /** Resolves once at least `n` requests arrived (or rejects after `timeoutMs`). */
    async waitFor(n: number, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`receiver got ${received.length} of ${n} requests`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 250);
        });
      }
      return received;
    },
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
