import type { Command } from 'commander';
import { markDeadImports } from '../import/import-file.ts';
import { readHealth } from '../server/health.ts';
import { action } from './context.ts';
import { table } from './output.ts';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show which database is used and how many accounts, contacts and imports it holds')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _options: { json?: boolean }) => {
        const db = await ctx.db();
        // An import whose process died (kill -9, a crash) is shown as interrupted, not running forever.
        await markDeadImports(db);
        const counts = await db.query<{
          accounts: number;
          contacts: number;
          imports: number;
          field_values: number;
        }>(
          `SELECT (SELECT count(*) FROM accounts)::int AS accounts,
                  (SELECT count(*) FROM contacts)::int AS contacts,
                  (SELECT count(*) FROM imports)::int AS imports,
                  (SELECT count(*) FROM field_values)::int AS field_values`,
        );
        const c = counts.rows[0]!;
        const database = { backend: db.backend, target: db.target };
        const last = await db.query<{
          id: number;
          file: string;
          kind: string;
          status: string;
          finished_at: Date | null;
          inserted: number;
          merged: number;
          unchanged: number;
          rejected: number;
        }>(
          `SELECT id, file, kind, status, finished_at, inserted, merged, unchanged, rejected
           FROM imports ORDER BY id DESC LIMIT 1`,
        );
        const lastImport = last.rows[0] ?? null;
        const health = await readHealth(db);
        if (ctx.out.json) return ctx.out.result({ database, ...c, lastImport, health });
        ctx.out.line(
          `database: ${db.backend === 'pglite' ? 'embedded PGlite' : 'PostgreSQL'} (${db.target})`,
        );
        ctx.out.line(
          table([
            ['accounts', c.accounts],
            ['contacts', c.contacts],
            ['imports', c.imports],
            ['field values', c.field_values],
          ]),
        );
        const q = health.queue;
        ctx.out.line(
          `health: ${health.status}; runs queued ${q.queuedRuns}, running ${q.runningRuns}` +
            `${q.oldestQueuedSeconds !== null ? `, oldest queued ${q.oldestQueuedSeconds}s` : ''}; ` +
            `webhook deliveries pending ${q.pendingDeliveries}; hook events pending ${q.pendingHookEvents}; ` +
            `servers seen ${health.workers.serve}, workers seen ${health.workers.worker}, ${health.workers.working} of them working runs (last 30 s)`,
        );
        if (lastImport) {
          const when = lastImport.finished_at
            ? new Date(lastImport.finished_at).toISOString()
            : 'not finished';
          ctx.out.line(
            `last import: #${lastImport.id} ${lastImport.kind} from ${lastImport.file} (${lastImport.status}, ${when}): ` +
              `${lastImport.inserted} inserted, ${lastImport.merged} merged, ${lastImport.unchanged} unchanged, ${lastImport.rejected} rejected`,
          );
        }
      }),
    );
}
