import type pg from 'pg';
import { fromPglite, PgBoss } from 'pg-boss';
import type { Db } from '../db/db.ts';
import type { PgliteStatements } from '../db/pglite-db.ts';
import type { QueueDriver, QueueJob, QueueSpec, SendOptions } from './queue-driver.ts';

export interface PgBossDriverOptions {
  /** Sluice's database: pg-boss shares its PGlite instance or its connection pool. */
  db: Db;
  /** Queues to create (idempotent) with their retry/heartbeat settings. */
  queues: QueueSpec[];
  /** Schema for pg-boss's tables. Default `<db.schema>_boss` (`sluice_boss` for `public`). */
  schema?: string;
  /**
   * How often pg-boss looks for jobs whose heartbeat lapsed, in seconds. Default 5. Tests use 1 so
   * a killed worker's jobs come back within `heartbeatSeconds + 1`.
   */
  superviseIntervalSeconds?: number;
  /** pg-boss's own background errors (supervision, maintenance). Default: ignored. */
  onError?(err: unknown): void;
  /**
   * Run cron passes in this process (`sluice serve`, `sluice worker`): due occurrences of the
   * `cron` entries are sent to their queues. Several processes may run passes; pg-boss lets one
   * claim each interval and files an occurrence under a singleton slot, so it is sent once.
   * Default false (entries can still be set and listed).
   */
  cron?: boolean;
  /** Seconds between cron passes (1–45). Default 30. */
  cronIntervalSeconds?: number;
}

/** pg-boss's own name for its schema next to Sluice's. */
export function bossSchemaFor(dbSchema: string): string {
  return dbSchema === 'public' ? 'sluice_boss' : `${dbSchema}_boss`;
}

/** A pg-boss IDatabase over Sluice's Db: the same PGlite instance (one per data dir) or the same pool. */
function bossDatabase(db: Db) {
  if (db.backend === 'pglite') {
    // Its statements, not the instance: they take turns with Sluice's (src/db/pglite-db.ts).
    const statements = (db as Db & { statements?: PgliteStatements }).statements;
    if (!statements) throw new Error('PGlite Db without its instance: open it with openDb()');
    return { database: fromPglite(statements), backend: 'pglite' as const };
  }
  const pool = (db as Db & { pool?: pg.Pool }).pool;
  if (!pool) throw new Error('Postgres Db without its pool: open it with openDb()');
  return {
    database: { executeSql: (text: string, values?: unknown[]) => pool.query(text, values) },
    backend: 'postgres' as const,
  };
}

/**
 * Starts pg-boss on Sluice's database and returns the queue port. Claiming is `fetch` with SKIP
 * LOCKED, driven by the caller's own loop (pg-boss's `work()` would wait a polling interval between
 * batches); heartbeats are sent by the caller with `heartbeat()`.
 */
export async function createPgBossDriver(options: PgBossDriverOptions): Promise<QueueDriver> {
  const { database, backend } = bossDatabase(options.db);
  const schema = options.schema ?? bossSchemaFor(options.db.schema);
  const boss = new PgBoss({
    db: database,
    backend,
    schema,
    superviseIntervalSeconds: options.superviseIntervalSeconds ?? 5,
    monitorIntervalSeconds: options.superviseIntervalSeconds ?? 5,
    // cron only where asked for; the bloat check is not used (fewer background statements on PGlite)
    schedule: options.cron === true,
    ...(options.cron
      ? {
          cronMonitorIntervalSeconds: options.cronIntervalSeconds ?? 30,
          cronWorkerIntervalSeconds: Math.min(5, options.cronIntervalSeconds ?? 30),
        }
      : {}),
    reindex: false,
    monitorVacuum: false,
  });
  // Background maintenance errors (a statement racing shutdown, the database restarting) must not
  // crash the process: pg-boss's supervisor simply runs again on its next interval.
  boss.on('error', (err: unknown) => options.onError?.(err));
  // Several workers starting at once against a fresh server would race to create pg-boss's schema
  // and queues; one session-level advisory lock serialises their start-up.
  await withStartLock(options.db, async () => {
    await boss.start();
    for (const spec of options.queues) {
      if (spec.deadLetter) await ensureQueue(boss, { name: spec.deadLetter });
      await ensureQueue(boss, spec);
    }
  });
  const sql = boss.getDb();

  const attempt = (job: QueueJob<unknown>) => ({ id: job.id, retryCount: job.retryCount });
  // pg-boss validates present keys, so absent options must be absent, not undefined.
  const jobOptions = (o?: SendOptions) => ({
    ...(o?.delayMs && o.delayMs > 0 ? { startAfter: new Date(Date.now() + o.delayMs) } : {}),
    ...(o?.priority !== undefined ? { priority: o.priority } : {}),
  });

  const driver: QueueDriver = {
    async send(queue, data, o) {
      const id = await boss.send(queue, data, jobOptions(o));
      if (!id) throw new Error(`queue ${queue}: job was not created`);
      return id;
    },
    async sendMany(queue, data, o) {
      const common = jobOptions(o);
      // Chunks keep each INSERT's JSON parameter reasonable for 100k-record batches.
      for (let i = 0; i < data.length; i += 1000) {
        await boss.insert(
          queue,
          data.slice(i, i + 1000).map((d) => ({ data: d, ...common })),
        );
      }
    },
    async fetch<T>(queue: string, max: number) {
      const jobs = await boss.fetch<T>(queue, { batchSize: max });
      return jobs.map((j) => ({ id: j.id, data: j.data, retryCount: j.retryCount }));
    },
    async complete(queue, jobs) {
      if (jobs.length > 0) await boss.complete(queue, jobs.map(attempt));
    },
    async fail(queue, job, reason) {
      await boss.fail(queue, attempt(job), { message: reason });
    },
    async heartbeat(queue, jobs) {
      if (jobs.length > 0) await boss.touch(queue, jobs.map(attempt));
    },
    async reschedule(queue, job, delayMs) {
      // Send first: a crash in between leaves two jobs for one run, which the run's job fence makes
      // harmless; the other order could lose the run.
      await driver.send(queue, job.data as object, { delayMs });
      await driver.complete(queue, [job]);
    },
    async deadLetter(queue, job, data) {
      const spec = options.queues.find((q) => q.name === queue);
      if (!spec?.deadLetter) throw new Error(`queue ${queue} has no dead-letter queue`);
      const id = await driver.send(spec.deadLetter, data);
      await driver.complete(queue, [job]);
      return id;
    },
    async remove(queue, ids) {
      if (ids.length > 0) await boss.deleteJob(queue, ids);
    },
    async pending(queue) {
      const r = await sql.executeSql(
        `SELECT count(*)::int AS n FROM "${schema}".job WHERE name = $1 AND state IN ('created', 'retry')`,
        [queue],
      );
      return Number(r.rows[0]?.n ?? 0);
    },
    cron: {
      async set(queue, key, cron, data, o) {
        // missed: 'once' — after a time nobody ran passes, one job for the latest missed occurrence
        await boss.schedule(queue, cron, data, { key, tz: o?.timezone ?? 'UTC', missed: 'once' });
      },
      async unset(queue, key) {
        await boss.unschedule(queue, key);
      },
      async list(queue) {
        const rows = await boss.getSchedules(queue);
        return rows.map((r) => ({
          queue: r.name,
          key: r.key,
          cron: r.cron,
          timezone: r.timezone || 'UTC',
          data: r.data ?? {},
          createdOn: new Date(r.createdOn),
          updatedOn: new Date(r.updatedOn),
        }));
      },
      next(cron, o) {
        return boss.previewSchedule(cron, {
          tz: o?.timezone ?? 'UTC',
          from: o?.from ?? new Date(),
          count: o?.count ?? 1,
        });
      },
    },
    async stop() {
      // close: false — the Db (PGlite instance or pool) belongs to Sluice and is closed by its owner.
      await boss.stop({ graceful: false, close: false, timeout: 2000 });
    },
  };
  return driver;
}

/** Any stable number: the start-up lock of pg-boss installations. */
const START_LOCK_KEY = 7_301_355_622;

async function withStartLock(db: Db, fn: () => Promise<void>): Promise<void> {
  const pool = (db as Db & { pool?: pg.Pool }).pool;
  if (db.backend === 'pglite' || !pool) return fn();
  const client = await pool.connect();
  // A connection dropped while held here emits 'error' on the client: unheard, it would crash the process.
  const ignore = () => {};
  client.on('error', ignore);
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [START_LOCK_KEY]);
    await fn();
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [START_LOCK_KEY]).catch((err: unknown) => {
      broken = err instanceof Error ? err : new Error(String(err));
    });
    client.off('error', ignore);
    client.release(broken);
  }
}

async function ensureQueue(boss: PgBoss, spec: QueueSpec): Promise<void> {
  const options = {
    retryLimit: spec.retryLimit ?? 20,
    retryDelay: spec.retryDelaySeconds ?? 2,
    // backoff needs a first delay; 0 (tests) means retry at once
    retryBackoff: (spec.retryDelaySeconds ?? 2) > 0,
    ...((spec.retryDelaySeconds ?? 2) > 0 ? { retryDelayMax: 300 } : {}),
    // a run longer than this is stuck, not slow: long waits reschedule the run instead
    expireInSeconds: 3600,
    heartbeatSeconds: spec.heartbeatSeconds ?? 20,
    ...(spec.deadLetter ? { deadLetter: spec.deadLetter } : {}),
  };
  if (!(await boss.getQueue(spec.name))) {
    // Several workers may start at once; losing the creation race is fine.
    await boss.createQueue(spec.name, options).catch(async (err: unknown) => {
      if (!(await boss.getQueue(spec.name))) throw err;
    });
  }
  await boss.updateQueue(spec.name, options);
}
