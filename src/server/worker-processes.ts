import { type ChildProcess, spawn } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * `sluice serve --worker-processes N`: the runs are worked by N child `sluice worker` processes
 * instead of the server's own event loop. A run's steps (parsing, provider calls, the sandbox's fake
 * servers in `--sandbox`) are CPU work that an event loop does in slices of many milliseconds; in the
 * same process every API request waiting behind such a slice waits as long (bench/api.ts: p99 of
 * GET /v1/contacts/{id} while a batch runs). In their own processes the kernel shares the CPU between
 * them and the API instead, and each has its own connection pool. The children run at a lower CPU
 * priority (nice 10, `WORKER_NICE`), so under CPU contention the API is scheduled first.
 *
 * A child that exits unexpectedly is started again (after 1 s, then up to 30 s between attempts).
 * Each child's stdin is a pipe from this process: when this process dies, even by SIGKILL, the pipe
 * closes and the child stops (`sluice worker --exit-with-parent`), so no orphan keeps working.
 * Server PostgreSQL only: an embedded database belongs to one process.
 */
export interface WorkerProcesses {
  /** Pids of the children running now. */
  pids(): number[];
  /** SIGTERM to every child (each finishes its in-flight runs), resolved when all have exited. */
  stop(): Promise<void>;
}

/**
 * The children's niceness: when the API and a batch want the same CPU (2 cores, a database and other
 * programs on them), the kernel gives it to the API first and the batch takes what is left. With idle
 * CPU it changes nothing: nice only weighs runnable processes against each other.
 */
export const WORKER_NICE = 10;

function lowerPriority(child: ChildProcess, nice: number, log: (line: string) => void) {
  if (nice === 0 || child.pid === undefined) return;
  try {
    setPriority(child.pid, Math.min(19, getPriority() + nice));
  } catch (err) {
    // not fatal: the children then compete with the API at the same priority
    log(`worker process ${child.pid}: cannot lower its CPU priority: ${(err as Error).message}`);
  }
}

/** bin/sluice.js, from src/server (tsx) and dist/server (built) alike. */
const BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));

export function startWorkerProcesses(o: {
  count: number;
  /** Runs in flight in each child (`sluice worker --concurrency`). */
  concurrency: number;
  /** Answer providers from the sandbox in the children too (`sluice worker --sandbox`). */
  sandbox: boolean;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  /** The children's CPU niceness (default 10; 0 = the server's own priority). */
  nice?: number;
}): WorkerProcesses {
  const children = new Set<ChildProcess>();
  let stopping = false;
  const start = (slot: number, delayMs: number) => {
    const args = [
      BIN,
      'worker',
      '--concurrency',
      String(o.concurrency),
      '--no-schedules',
      '--exit-with-parent',
      ...(o.sandbox ? ['--sandbox'] : []),
    ];
    const child = spawn(process.execPath, args, { env: o.env, stdio: ['pipe', 'ignore', 'pipe'] });
    children.add(child);
    lowerPriority(child, o.nice ?? WORKER_NICE, o.log);
    const startedAt = Date.now();
    child.stderr!.setEncoding('utf8');
    let partial = '';
    child.stderr!.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) o.log(`worker process ${slot}: ${line}`);
    });
    child.once('exit', (code, signal) => {
      children.delete(child);
      if (stopping) return;
      // a child that lived a while is restarted at once; one that keeps failing, less and less often
      const next = Date.now() - startedAt > 60_000 ? 1000 : Math.min(30_000, Math.max(1000, delayMs * 2));
      o.log(
        `worker process ${slot} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); starting another in ${next / 1000} s`,
      );
      setTimeout(() => {
        if (!stopping) start(slot, next);
      }, next).unref();
    });
  };
  for (let i = 1; i <= o.count; i++) start(i, 500);
  return {
    pids: () => [...children].map((c) => c.pid!).filter(Boolean),
    async stop() {
      stopping = true;
      await Promise.all(
        [...children].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
