/**
 * `npm run bench:import [-- --rows N] [--backend pglite|postgres|both] [--csv PATH]`
 *
 * Generates an N-row accounts CSV (default 1,000,000; ~4% duplicates as domain variants and name+state
 * repeats, quoted commas and newlines, ~0.5% rows that must be rejected), imports it into embedded PGlite
 * (temp data dir) and into server PostgreSQL (a fresh schema on DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test), each in a child process that samples its own RSS, and prints
 * rows/s and peak RSS per backend. Targets: >= 20,000 rows/s Postgres, >= 5,000 rows/s PGlite, <= 300 MB.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/config.ts';
import { openDb } from '../src/db/open-db.ts';
import { importFile } from '../src/import/import-file.ts';

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

/** Child mode: import the file into one backend and print {seconds, peakRssMb, result} as JSON. */
async function child(): Promise<void> {
  const file = arg('file')!;
  const backend = arg('backend')!;
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const dataDir = backend === 'pglite' ? mkdtempSync(join(tmpdir(), 'sluice-bench-')) : undefined;
  const db =
    backend === 'pglite'
      ? await openDb({ dataDir, vacuumIntervalMs: 0 })
      : await openDb({ databaseUrl: arg('url')!, schema });
  try {
    const start = performance.now();
    const result = await importFile(db, { file, region: 'US' });
    const seconds = (performance.now() - start) / 1000;
    peak = Math.max(peak, process.memoryUsage().rss);
    const { errors: _e, columns: _c, ...counts } = result;
    process.stdout.write(`${JSON.stringify({ seconds, peakRssMb: peak / 2 ** 20, counts })}\n`);
  } finally {
    clearInterval(sampler);
    if (backend === 'postgres') await db.exec(`DROP SCHEMA "${schema}" CASCADE`);
    await db.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (args.includes('--child')) return child();
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
  for (const backend of backends) {
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          fileURLToPath(import.meta.url),
          '--child',
          '--backend',
          backend,
          '--file',
          file,
          '--url',
          url,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let s = '';
      p.stdout.on('data', (d) => (s += d));
      p.on('close', (code) =>
        code === 0 ? resolve(s) : reject(new Error(`${backend} import exited with ${code}`)),
      );
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as {
      seconds: number;
      peakRssMb: number;
      counts: Record<string, unknown>;
    };
    console.log(
      `${backend.padEnd(8)} ${Math.round(rows / r.seconds).toLocaleString('en-US')} rows/s  ` +
        `(${r.seconds.toFixed(1)}s)  peak RSS ${r.peakRssMb.toFixed(0)} MB  ${JSON.stringify(r.counts)}`,
    );
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}

await main();
