/**
 * Runs due sequence steps in its own process, for the kill -9 test: opens the shared database, prints
 * `ready`, waits for a line on stdin, then runs one batch (one message at a time), printing `sent KEY`
 * after each message is confirmed. Usage: outreach-child.ts <sequence yaml file> <now ISO> <env json>
 */
import { readFileSync } from 'node:fs';
import { openDb } from '../../src/db/open-db.ts';
import { runDueSequenceSteps } from '../../src/outreach/run-due-steps.ts';
import { servicesFor } from './outreach-fixtures.ts';

const [file, nowIso, envJson] = process.argv.slice(2);
const db = process.env.DATABASE_URL
  ? await openDb({
      databaseUrl: process.env.DATABASE_URL,
      schema: process.env.SLUICE_DB_SCHEMA!,
      migrate: false,
    })
  : await openDb({ dataDir: process.env.SLUICE_DATA_DIR!, vacuumIntervalMs: 0 });
const services = servicesFor(db, JSON.parse(envJson!), { 'test-seq': readFileSync(file!, 'utf8') });
process.stdout.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
await runDueSequenceSteps(services, new Date(nowIso!), {
  concurrency: 1,
  onSent: (key) => {
    process.stdout.write(`sent ${key}\n`);
  },
});
await db.close();
process.stdout.write('done\n');
