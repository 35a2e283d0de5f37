import type { Command } from 'commander';
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
        if (ctx.out.json) return ctx.out.result({ database, ...c });
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
      }),
    );
}
