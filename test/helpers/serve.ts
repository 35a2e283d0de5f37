import { type ChildProcess, spawn } from 'node:child_process';
import { loadConfig } from '../../src/config/config.ts';
import type { Db } from '../../src/db/db.ts';
import type { RunEngine } from '../../src/engine/run-executor.ts';
import { bossSchemaFor } from '../../src/queue/pg-boss-driver.ts';
import type { Sandbox } from '../../src/sandbox/start-sandbox.ts';
import { openServeEngine } from '../../src/server/serve-engine.ts';
import { type RunningServer, type StartServerOptions, startServer } from '../../src/server/start-server.ts';
import type { TestDb } from './backends.ts';

/**
 * `sluice serve` for tests, two ways:
 * - `startSandboxServe`: in-process, wired as the CLI's serve.ts does with `--sandbox` (openServeEngine's
 *   engine and env into startServer, sandbox latencies off), and one `stop()` for all of it;
 * - `spawnSluice`: the real CLI (`bin/sluice.js`) as a child process, as users run it.
 */

/** Polls `fn` every 200 ms until it returns something truthy. */
export async function until<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface SandboxServe {
  server: RunningServer;
  engine: RunEngine;
  sandbox: Sandbox;
  /** The environment the server got: the configuration's with the sandbox's keys and base URLs over it. */
  env: Record<string, string | undefined>;
  /** Stops the server, the queue and the sandbox, and drops the test schema's pg-boss schema. */
  stop(): Promise<void>;
}

/**
 * The server in this process with the sandbox's providers, on `db`. `env` is laid over the sandbox's
 * (inbound hook secrets, say); the other options go to startServer (default: port 0, no run workers).
 * `db` is not closed by `stop()`.
 */
export async function startSandboxServe(
  db: TestDb,
  o: { env?: Record<string, string> } & Partial<Omit<StartServerOptions, 'db' | 'engine' | 'env'>> = {},
): Promise<SandboxServe> {
  const { env: extraEnv, ...options } = o;
  const { engine, sandbox, env } = await openServeEngine(loadConfig({}), db, {
    sandbox: true,
    sandboxLatencyScale: 0,
  });
  const serverEnv = { ...env, ...extraEnv };
  let server: RunningServer;
  try {
    server = await startServer({ port: 0, workers: 0, ...options, db, engine, env: serverEnv });
  } catch (err) {
    await engine.queue.stop();
    await sandbox?.stop();
    throw err;
  }
  return {
    server,
    engine,
    sandbox: sandbox!,
    env: serverEnv,
    async stop() {
      await server.stop();
      await engine.queue.stop();
      await sandbox?.stop();
      await dropBossSchema(db);
    },
  };
}

/** The pg-boss schema a test schema's queue created beside it (server Postgres). */
async function dropBossSchema(db: Db & { connection?: { schema: string } }) {
  if (db.connection) await db.exec(`DROP SCHEMA IF EXISTS "${bossSchemaFor(db.connection.schema)}" CASCADE`);
}

const BIN = new URL('../../bin/sluice.js', import.meta.url).pathname;

export interface SluiceProcess {
  child: ChildProcess;
  /** The exit code, or the signal's name. */
  exited: Promise<number | string>;
  /** The first match of `re` in stderr or stdout, waiting for it (fails if the process exits first). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  out(): string;
  err(): string;
}

/**
 * The CLI as a child process, with a clean environment (PATH, NO_COLOR and `env`: no real keys or base
 * URLs leak in) in `cwd` (no .env from the checkout). Add the child to `children` to kill it after the
 * test (`killAll`).
 */
export function spawnSluice(
  args: string[],
  env: Record<string, string>,
  cwd: string,
  children?: ChildProcess[],
): SluiceProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH, NO_COLOR: '1', ...env },
  });
  children?.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const waitFor = async (re: RegExp, timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(stderr) ?? re.exec(stdout);
      if (m) return m;
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`no ${re} from sluice ${args.join(' ')}:\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { child, exited, waitFor, out: () => stdout, err: () => stderr };
}

/** SIGKILL to every child still running, emptying the list. */
export function killAll(children: ChildProcess[]): void {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** `sluice serve --sandbox --port 0 [...extra]` as a child process, once it listens. */
export async function spawnServe(
  env: Record<string, string>,
  cwd: string,
  children?: ChildProcess[],
  extra: string[] = [],
): Promise<SluiceProcess & { url: string }> {
  const s = spawnSluice(['serve', '--sandbox', '--port', '0', ...extra], env, cwd, children);
  const url = (await s.waitFor(/listening on (http:\/\/\S+)/))[1]!;
  return { ...s, url };
}

/** JSON calls with an API key (`X-API-Key`, the seed's header): GET without a body, POST with one. */
export function apiClient(url: string, key: string) {
  return async (path: string, body?: unknown) =>
    (await (
      await fetch(`${url}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      })
    ).json()) as Record<string, unknown>;
}
