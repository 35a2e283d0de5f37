import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const PGBOUNCER = '/usr/sbin/pgbouncer';
export const PG_BIN = '/usr/lib/postgresql/15/bin';
/** Test processes run as root in CI; PostgreSQL and PgBouncer refuse to, so they run as `postgres`. */
const AS_POSTGRES = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function ownedTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o777);
  return dir;
}

async function waitForPort(port: number, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port}`);
    await sleep(100);
  }
}

/** PgBouncer in front of `upstream` (host:port), on a free port, with its own ini in a temp dir. */
export async function startPgBouncer(options: {
  mode: 'session' | 'transaction';
  upstreamPort: number;
  dbname: string;
}): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = ownedTempDir('sluice-pgb-');
  const port = await freePort();
  writeFileSync(join(dir, 'userlist.txt'), '"postgres" ""\n');
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    `[databases]
${options.dbname} = host=127.0.0.1 port=${options.upstreamPort} dbname=${options.dbname}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${join(dir, 'userlist.txt')}
pool_mode = ${options.mode}
default_pool_size = 20
max_client_conn = 200
logfile = ${join(dir, 'pgbouncer.log')}
`,
  );
  const proc: ChildProcess = spawn(
    AS_POSTGRES[0] ?? PGBOUNCER,
    [...AS_POSTGRES.slice(1), ...(AS_POSTGRES.length ? [PGBOUNCER] : []), join(dir, 'pgbouncer.ini')],
    {
      stdio: 'ignore',
    },
  );
  await waitForPort(port, 'pgbouncer');
  return {
    url: `postgres://postgres@127.0.0.1:${port}/${options.dbname}`,
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Why a private PostgreSQL cluster cannot be started here, or undefined when it can. */
export function privateClusterUnavailable(): string | undefined {
  if (!existsSync(join(PG_BIN, 'initdb')) || !existsSync(join(PG_BIN, 'pg_ctl')))
    return `PostgreSQL 15 binaries not found in ${PG_BIN}`;
  if (AS_POSTGRES.length && spawnSync('id', ['postgres']).status !== 0) return 'no postgres user';
  return undefined;
}

/** A throwaway PostgreSQL cluster (initdb in a temp dir, a free port) that a test may restart. */
export async function startPrivateCluster(): Promise<{
  url: string;
  port: number;
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}> {
  const dir = ownedTempDir('sluice-pgc-');
  const data = join(dir, 'data');
  const port = await freePort();
  const run = (args: string[]) => {
    const r = spawnSync(
      AS_POSTGRES[0] ?? args[0]!,
      [...AS_POSTGRES.slice(1), ...(AS_POSTGRES.length ? args : args.slice(1))],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}${r.stdout}`);
  };
  run([join(PG_BIN, 'initdb'), '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const start = () =>
    run([
      join(PG_BIN, 'pg_ctl'),
      '-D',
      data,
      '-l',
      join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ]);
  const stop = () => run([join(PG_BIN, 'pg_ctl'), '-D', data, '-m', 'fast', '-w', 'stop']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async restart(downMs) {
      stop();
      await sleep(downMs);
      start();
    },
    async stop() {
      try {
        stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
