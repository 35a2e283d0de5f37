import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./attempt-child.ts', import.meta.url));

export interface AttemptEvent {
  event: string;
  pid?: number;
  owner?: string;
  outcome?: Record<string, unknown>;
  renewals?: number;
  message?: string;
}

export interface AttemptProcess {
  proc: ChildProcess;
  events: AttemptEvent[];
  /** Resolves with the first event named `name` (also among earlier ones). */
  waitFor(name: string, timeoutMs?: number): Promise<AttemptEvent>;
  /** Lets the child make its call. */
  go(): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Spawns test/helpers/attempt-child.ts (one gateway, one call) as a real, killable process. */
export function spawnAttemptChild(env: Record<string, string>): AttemptProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: AttemptEvent[] = [];
  const waiters = new Set<() => void>();
  let err = '';
  let buf = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        events.push(JSON.parse(line) as AttemptEvent);
      } catch {
        err += `${line}\n`;
      }
    }
    for (const w of [...waiters]) w();
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
    exited,
    stderr: () => err,
    go: () => proc.stdin!.write('go\n'),
    waitFor(name, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find((e) => e.event === name);
          if (found) {
            done();
            resolve(found);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(new Error(`child exited before "${name}": ${JSON.stringify(events)}\n${err}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no "${name}" within ${timeoutMs} ms: ${JSON.stringify(events)}\n${err}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}
