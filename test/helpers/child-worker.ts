import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./worker-child.ts', import.meta.url));

export interface ChildEvent {
  event: string;
  outcome?: string;
  runId?: number;
  counts?: Record<string, number>;
  message?: string;
}

export interface ChildWorker {
  proc: ChildProcess;
  events: ChildEvent[];
  stderr: () => string;
  /** Resolves when an event matching `pred` was seen (also among earlier ones). */
  waitFor(pred: (e: ChildEvent, all: ChildEvent[]) => boolean, timeoutMs?: number): Promise<ChildEvent>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns test/helpers/worker-child.ts as a real process (killable with SIGKILL). */
export function spawnWorker(env: Record<string, string>): ChildWorker {
  const proc = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: ChildEvent[] = [];
  const waiters: (() => void)[] = [];
  let err = '';
  let buf = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        events.push(JSON.parse(line) as ChildEvent);
      } catch {
        err += `${line}\n`;
      }
      for (const w of [...waiters]) w();
      nl = buf.indexOf('\n');
    }
  });
  proc.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      resolve({ code, signal });
      for (const w of [...waiters]) w();
    }),
  );
  return {
    proc,
    events,
    stderr: () => err,
    exited,
    waitFor(pred, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find((e) => pred(e, events));
          if (found) {
            cleanup();
            resolve(found);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            cleanup();
            reject(
              new Error(
                `worker exited (${proc.exitCode ?? proc.signalCode}) before the awaited event. stderr:\n${err}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `timed out waiting for a worker event; events: ${JSON.stringify(events.slice(-5))}; stderr:\n${err}`,
            ),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          const i = waiters.indexOf(check);
          if (i >= 0) waiters.splice(i, 1);
        };
        waiters.push(check);
        check();
      });
    },
  };
}
