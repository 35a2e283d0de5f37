/**
 * `npm run bench:import [-- --rows N] [--backend pglite|postgres|both] [--csv PATH]`
 *
 * Generates an N-row accounts CSV (default 1,000,000; ~4% duplicates as domain variants and name+state
 * repeats, quoted commas and newlines, ~0.5% rows that must be rejected), imports it into embedded PGlite
 * (temp data dir) and into server PostgreSQL (a fresh schema on DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test) by running the real CLI (`sluice import FILE --json`) in a
 * child process whose peak RSS (VmHWM) is sampled, and prints rows/s and peak RSS per backend.
 * `--node-flags "--max-semi-space-size=16"` passes flags to that node process. Targets: >= 20,000 rows/s Postgres, >= 5,000 rows/s PGlite, <= 300 MB.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/config.ts';
import { openDb } from '../src/db/open-db.ts';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};

const STATES = ['CA', 'TX', 'FL', 'NY', 'AZ', 'NC', 'GA', 'MI', 'OH', 'WA'];
const WORDS = ['Pine', 'Oak', 'Eagle', 'Lake', 'River', 'Hills', 'Valley', 'Meadow', 'Cedar', 'Links'];

async function generate(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  const write = (s: string) =>
    out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r()));
  await write('Company Name,Website,Phone Number,City,State,Industry,Notes\r\n');
  let buf = '';
  for (let i = 0; i < rows; i++) {
    const r = i % 1000;
    let line: string;
    if (i > 0 && r === 7) {
      // domain variant of an earlier company (dedupe by registrable domain)
      const j = i - 500;
      line = `"${name(j)}, Inc.",https://www.golf${j}.com/about,,,${STATES[j % 10]},,`;
    } else if (i > 0 && r === 13) {
      // a no-website company repeated (dedupe by name + state)
      const j = i - 3;
      line = `${name(j)} LLC,,,Springfield,${STATES[j % 10]},Golf,`;
    } else if (r === 21 || r === 22) {
      line = ',,,Nowhere,TX,,no name and no website';
    } else if (r % 3 === 0) {
      line = `${name(i)},,(${200 + (i % 700)}) 555-${String(i % 10000).padStart(4, '0')},"Springfield, East",${STATES[i % 10]},Golf,"Note with ""quotes""\nand a newline"`;
    } else {
      line = `${name(i)},golf${i}.com,+1 ${200 + (i % 700)} 555 ${String(i % 10000).padStart(4, '0')},Springfield,${STATES[i % 10]},Golf,`;
    }
    buf += `${line}\r\n`;
    if (buf.length > 1 << 16) {
      await write(buf);
      buf = '';
    }
  }
  await write(buf);
  await new Promise<void>((r) => out.end(() => r()));
}

function name(i: number): string {
  return `${WORDS[i % 10]} ${WORDS[Math.floor(i / 10) % 10]} Golf Club ${i}`;
}

interface Measured {
  wallSeconds: number;
  peakRssMb: number;
  result: {
    rowsRead: number;
    inserted: number;
    merged: number;
    unchanged: number;
    rejected: number;
    durationMs: number;
  };
}

/** Peak resident set size of a live process so far (Linux /proc), in MB. */
function vmHwmMb(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs the real CLI (`bin/sluice.js ...`, through its shebang and the node flags it declares there) as a
 * user would and samples its peak RSS (VmHWM) while it runs. With --node-flags, runs
 * `node <flags> bin/sluice.js` instead, to compare flags.
 */
function runCli(cliArgs: string[], env: Record<string, string>, nodeFlags: string[]): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const { DATABASE_URL: _u, SLUICE_DB_SCHEMA: _s, ...base } = process.env;
    const [cmd, argv] =
      nodeFlags.length > 0 ? [process.execPath, [...nodeFlags, BIN, ...cliArgs]] : [BIN, cliArgs];
    const p = spawn(cmd, argv, {
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let peak = 0;
    const timer = setInterval(() => {
      peak = Math.max(peak, vmHwmMb(p.pid!) ?? 0);
    }, 100);
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => {
      clearInterval(timer);
      if (code !== 0) return reject(new Error(`sluice ${cliArgs.join(' ')} exited with ${code}`));
      const wallSeconds = (performance.now() - start) / 1000;
      resolve({ wallSeconds, peakRssMb: peak, result: JSON.parse(out) });
    });
  });
}

const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));

async function main(): Promise<void> {
  const rows = Number(arg('rows') ?? 1_000_000);
  const which = arg('backend') ?? 'both';
  const url =
    loadConfig(process.env).databaseUrl ??
    process.env.TEST_DATABASE_URL ??
    'postgres://postgres@127.0.0.1:5432/test';
  // --csv PATH: generate into PATH and keep it (or reuse it when it exists)
  const keep = arg('csv');
  const dir = keep ? undefined : mkdtempSync(join(tmpdir(), 'sluice-bench-csv-'));
  const file = keep ?? join(dir!, 'accounts.csv');
  const t0 = performance.now();
  if (!keep || !existsSync(keep)) await generate(file, rows);
  console.log(
    `generated ${rows.toLocaleString('en-US')} rows (${(statSync(file).size / 2 ** 20).toFixed(0)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)}s: ${file}`,
  );
  const backends = which === 'both' ? ['postgres', 'pglite'] : [which];
  const nodeFlags = arg('node-flags')?.split(' ').filter(Boolean) ?? [];
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} CPUs`,
  );
  for (const backend of backends) {
    const schema = `bench_${randomBytes(4).toString('hex')}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-bench-db-'));
    const target =
      backend === 'pglite'
        ? { args: ['--data-dir', dataDir], env: {} as Record<string, string> }
        : {
            args: [] as string[],
            env: { DATABASE_URL: url, SLUICE_DB_SCHEMA: schema } as Record<string, string>,
          };
    try {
      // create and migrate the database first: the figure is the import, not PGlite's initdb
      await runCli([...target.args, 'status', '--json'], target.env, []).catch(() => undefined);
      const m = await runCli([...target.args, 'import', file, '--json'], target.env, nodeFlags);
      const r = m.result;
      console.log(
        `${backend.padEnd(8)} ${Math.round(r.rowsRead / (r.durationMs / 1000)).toLocaleString('en-US')} rows/s ` +
          `(import ${(r.durationMs / 1000).toFixed(1)}s, process ${m.wallSeconds.toFixed(1)}s)  peak RSS ${m.peakRssMb.toFixed(0)} MB  ` +
          `inserted ${r.inserted}, merged ${r.merged}, unchanged ${r.unchanged}, rejected ${r.rejected}`,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      if (backend === 'postgres') {
        const db = await openDb({ databaseUrl: url, schema, migrate: false });
        await db.exec(`DROP SCHEMA "${schema}" CASCADE`);
        await db.close();
      }
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}

await main();
