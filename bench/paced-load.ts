import { fork } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * An open-loop load generator: request i is due at start + i / rate, whatever happened to the ones
 * before it (wrk2's and k6's constant-arrival-rate model). autocannon's `overallRate` is a per-second
 * quota instead: each connection sends its share back to back as soon as the second starts, then waits,
 * so "500 requests/s" arrives as bursts of 16 concurrent requests, and the figures measure the queue
 * of a burst rather than the server at 500 requests/s.
 *
 * Latency is counted from when a request was due, not from when it went out (coordinated omission:
 * a stalled server or a late client timer counts against the figure); `lags` is the client-side lag
 * (due → handed to a socket) and `tickLate` how late the generator's own 1 ms timer ran, so the
 * generator's own delays can be told apart. `serverMs` is what the server says it spent on each
 * answer (`Server-Timing: app;dur=`), when it says so. Requests go out on raw keep-alive sockets
 * (HTTP/1.1, one request in flight per socket, up to `maxSockets`), not node:http's client.
 *
 * `pacedLoadInChild` runs the generator in a process of its own (this file, forked), so nothing else
 * in the bench process shares its event loop.
 */
export interface PacedOptions {
  url: string;
  rate: number;
  seconds: number;
  /** A path with `{id}`, filled with a random whole number in `ids` (inclusive). */
  path: string;
  ids?: [number, number];
  headers: Record<string, string>;
  /** Most sockets open at once (default 64): a request due while all are busy waits for one. */
  maxSockets?: number;
}

export interface PacedResult {
  /** Milliseconds from due to the last byte of the answer, one per answered request. */
  latencies: number[];
  /** Milliseconds from the request being handed to a socket to the last byte of the answer. */
  fromSend: number[];
  /** Milliseconds from due to the request being handed to a socket. */
  lags: number[];
  /** The server's own figure (Server-Timing app;dur) per answer that had one, ms. */
  serverMs: number[];
  /** The server's database span (Server-Timing db;dur) per answer that had one, ms. */
  dbMs: number[];
  /** How late each of the generator's 1 ms ticks ran, ms (its own event loop's delay). */
  tickLate: number[];
  statuses: Record<number, number>;
  errors: number;
  seconds: number;
  /** CPU the generator used, ms per request sent. */
  cpuMsPerRequest: number;
}

/**
 * One keep-alive HTTP/1.1 connection on a raw socket, one request at a time (no pipelining): a request
 * is a prebuilt string, an answer is read up to its Content-Length. A tenth of node:http's client CPU
 * per request, which on a shared machine is CPU the server does not get.
 */
class Conn {
  private buf: Buffer = Buffer.alloc(0);
  private pending: ((r: { status: number; timing: string } | Error) => void) | undefined;
  readonly socket: Socket;
  busy = false;
  dead = false;

  constructor(host: string, port: number) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse();
    });
    const fail = (err: Error) => {
      this.dead = true;
      const p = this.pending;
      this.pending = undefined;
      p?.(err);
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(new Error('connection closed')));
  }

  send(text: string): Promise<{ status: number; timing: string } | Error> {
    this.busy = true;
    return new Promise((resolve) => {
      this.pending = resolve;
      this.socket.write(text);
    });
  }

  private parse() {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? Number.NaN);
    if (!Number.isFinite(length)) {
      this.socket.destroy(new Error('an answer without Content-Length'));
      return;
    }
    if (this.buf.length < end + 4 + length) return;
    this.buf = this.buf.subarray(end + 4 + length);
    const status = Number(head.slice(9, 12));
    const timing = /\r\nserver-timing:\s*([^\r]*)/i.exec(head)?.[1] ?? '';
    const p = this.pending;
    this.pending = undefined;
    this.busy = false;
    p?.({ status, timing });
  }
}

export async function pacedLoad(o: PacedOptions): Promise<PacedResult> {
  const target = new URL(o.url);
  const host = target.hostname;
  const port = Number(target.port);
  const maxSockets = o.maxSockets ?? 64;
  const conns: Conn[] = [];
  const waiting: ((c: Conn) => void)[] = [];
  const headerLines = Object.entries(o.headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const total = Math.round(o.rate * o.seconds);
  const [lo, hi] = o.ids ?? [1, 1];
  const latencies: number[] = [];
  const fromSend: number[] = [];
  const lags: number[] = [];
  const serverMs: number[] = [];
  const dbMs: number[] = [];
  const tickLate: number[] = [];
  const statuses: Record<number, number> = {};
  let errors = 0;
  let sent = 0;
  let settled = 0;
  /** A free connection: an idle one, a new one while under maxSockets, else the next one freed. */
  const acquire = (): Conn | Promise<Conn> => {
    for (let i = conns.length - 1; i >= 0; i--) if (conns[i]!.dead) conns.splice(i, 1);
    const idle = conns.find((c) => !c.busy);
    if (idle) return idle;
    if (conns.length < maxSockets) {
      const c = new Conn(host, port);
      conns.push(c);
      return c;
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = (c: Conn) => {
    const next = waiting.shift();
    if (next && !c.dead) {
      c.busy = true;
      next(c);
    } else if (next) {
      const fresh = acquire();
      if (fresh instanceof Promise) void fresh.then(next);
      else next(fresh);
    }
  };
  const cpu0 = process.cpuUsage();
  const start = performance.now() + 20;
  await new Promise<void>((resolve) => {
    const fire = async (due: number) => {
      const path = o.path.replace('{id}', String(lo + Math.floor(Math.random() * (hi - lo + 1))));
      const got = acquire();
      const conn = got instanceof Promise ? await got : got;
      conn.busy = true;
      const onSocket = performance.now();
      lags.push(onSocket - due);
      const r = await conn.send(`GET ${path} HTTP/1.1\r\nhost: ${host}:${port}\r\n${headerLines}\r\n`);
      const now = performance.now();
      if (r instanceof Error) errors++;
      else {
        latencies.push(now - due);
        fromSend.push(now - onSocket);
        const app = /app;dur=([\d.]+)/.exec(r.timing);
        if (app) serverMs.push(Number(app[1]));
        const db = /db;dur=([\d.]+)/.exec(r.timing);
        if (db) dbMs.push(Number(db[1]));
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      }
      release(conn);
      if (++settled === total) resolve();
    };
    // A 1 ms tick sends every request that has come due (timers are not finer than that).
    let last = performance.now();
    const tick = setInterval(() => {
      const now = performance.now();
      tickLate.push(Math.max(0, now - last - 1));
      last = now;
      while (sent < total && start + (sent * 1000) / o.rate <= now)
        void fire(start + (sent++ * 1000) / o.rate);
      if (sent >= total) clearInterval(tick);
    }, 1);
  });
  for (const c of conns) c.socket.destroy();
  const cpu = process.cpuUsage(cpu0);
  return {
    latencies,
    fromSend,
    lags,
    serverMs,
    dbMs,
    tickLate,
    statuses,
    errors,
    seconds: o.seconds,
    cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / Math.max(1, total),
  };
}

/** The same load from a child process (this module forked; under tsx the loader is inherited). */
export function pacedLoadInChild(o: PacedOptions): Promise<PacedResult> {
  const child = fork(fileURLToPath(import.meta.url), ['--paced-load-child'], { stdio: 'inherit' });
  return new Promise<PacedResult>((resolve, reject) => {
    let result: PacedResult | undefined;
    child.once('message', (m) => {
      result = m as PacedResult;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      result ? resolve(result) : reject(new Error(`the load generator exited with ${code} and no result`)),
    );
    child.send(o);
  });
}

if (process.argv.includes('--paced-load-child') && process.send) {
  process.once('message', async (o) => {
    const r = await pacedLoad(o as PacedOptions);
    process.send!(r, () => process.exit(0));
  });
}
