/**
 * A sync in its own process, for the crash and multi-process tests: opens the shared database (PGlite
 * data dir or server schema, from the env as `sharedDb` gives it), prints `ready`, waits for a line on
 * stdin, runs one sync and prints one JSON line with its counts.
 * Usage: sync-child.ts <sync name or file> <base url> <env json> [ids comma-separated]
 */
import { openDb } from '../../src/db/open-db.ts';
import { loadSync } from '../../src/sync/load-sync.ts';
import { runSync } from '../../src/sync/run-sync.ts';

const [name, baseUrl, envJson, idsArg] = process.argv.slice(2);
const db = process.env.DATABASE_URL
  ? await openDb({
      databaseUrl: process.env.DATABASE_URL,
      schema: process.env.SLUICE_DB_SCHEMA!,
      migrate: false,
    })
  : await openDb({ dataDir: process.env.SLUICE_DATA_DIR!, vacuumIntervalMs: 0 });
const def = await loadSync(name!);
const ids = idsArg ? idsArg.split(',').map(Number) : undefined;
for (let i = 0; i < 3; i++) await fetch(baseUrl!).then((r) => r.text());
process.stdout.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
const report = await runSync({
  db,
  def,
  env: JSON.parse(envJson!),
  baseUrl,
  concurrency: 2,
  ...(ids ? { ids } : {}),
});
await db.close();
process.stdout.write(`${JSON.stringify(report.counts)}\n`);
