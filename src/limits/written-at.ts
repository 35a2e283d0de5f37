import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';

/**
 * When a call's request was really handed to its socket, for the rate limiter: a provider counts a
 * request when it receives it, and between the limiter letting a call go and the request's headers
 * being written there may be a new connection (TCP, TLS), cold code, a busy event loop (PGlite runs
 * in it), a slow proxy. Node's fetch (undici) publishes `undici:request:create` synchronously inside
 * `fetch()`, where the async context is the caller's, `undici:client:sendHeaders` when the headers
 * are written and `undici:request:headers` when the answer's headers come in; `watchWrites` runs a
 * call in a context that ties them together.
 *
 * A fetch that is not undici's (a test double, another HTTP stack) publishes nothing: `requested`
 * stays false and the caller falls back to what it knows (the answer's time, the latest the provider
 * can have counted it).
 */
export interface WriteWatch {
  /** The clock the times are read on (the gateway's). */
  readonly now: () => number;
  /** A request was created inside the watched call (undici's fetch). */
  requested: boolean;
  /** When the first request's headers were written (the watch's clock), or undefined. */
  writtenAt: number | undefined;
  /**
   * The first request went on a connection no request of this process had used before: a provider
   * may take much longer to count it (accepting the connection, a TLS handshake on its side).
   */
  newConnection: boolean;
  /** When the first request's answer headers came in (before its body is read), or undefined. */
  answeredAt: number | undefined;
  /** Called once, synchronously, when the first request's headers are written. */
  onWrite?: (at: number) => void;
}

const context = new AsyncLocalStorage<WriteWatch>();
const byRequest = new WeakMap<object, WriteWatch>();
const usedSockets = new WeakSet<object>();
let subscribed = false;

function listen(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe('undici:request:create', (message) => {
    const watch = context.getStore();
    const request = (message as { request?: object }).request;
    if (!watch || !request) return;
    watch.requested = true;
    byRequest.set(request, watch);
  });
  subscribe('undici:client:sendHeaders', (message) => {
    const { request, socket } = message as { request?: object; socket?: object };
    const used = !socket || usedSockets.has(socket);
    if (socket) usedSockets.add(socket);
    const watch = request ? byRequest.get(request) : undefined;
    if (!watch || watch.writtenAt !== undefined) return;
    watch.newConnection = !used;
    watch.writtenAt = watch.now();
    // A subscriber's exception would be rethrown on the next tick, uncaught.
    try {
      watch.onWrite?.(watch.writtenAt);
    } catch {}
  });
  subscribe('undici:request:headers', (message) => {
    const request = (message as { request?: object }).request;
    const watch = request ? byRequest.get(request) : undefined;
    if (watch && watch.writtenAt !== undefined && watch.answeredAt === undefined)
      watch.answeredAt = watch.now();
  });
}

/** Runs `fn` so that the requests it makes are seen by `watch`. */
export function watchWrites<T>(watch: WriteWatch, fn: () => Promise<T>): Promise<T> {
  listen();
  return context.run(watch, fn);
}
