/**
 * Another process booking rate-limit places in the same server-Postgres schema (test/limits.test.ts):
 * prints `ready`, waits for a line on stdin, books `count` places at once through its own pool, and
 * prints one JSON line: the booked places (epoch ms, database clock).
 * Usage: book-rate-child.ts <dbUrl> <schema> <windowsJson> <count>
 */
import { openDb } from '../../src/db/open-db.ts';
import { bookRate, type LimitWindow } from '../../src/limits/sliding-window.ts';

const [dbUrl, schema, windowsJson, countArg] = process.argv.slice(2);
const db = await openDb({ databaseUrl: dbUrl, schema, migrate: false });
const windows = JSON.parse(windowsJson!) as LimitWindow[];
await db.query('SELECT 1');
process.stdout.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
const booked = await Promise.all(
  Array.from({ length: Number(countArg) }, () => bookRate(db, windows, { maxWaitMs: 600_000 })),
);
await db.close();
process.stdout.write(`${JSON.stringify(booked.map((b) => b.atMs))}\n`);
