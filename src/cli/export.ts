import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { type Command, Option } from 'commander';
import { ConfigError } from '../errors.ts';
import { exportRecords } from '../export/export-records.ts';
import { action } from './context.ts';

interface ExportCliOptions {
  kind: 'accounts' | 'contacts';
  format: 'csv' | 'json';
  out?: string;
  provenance?: boolean;
  raw?: boolean;
  json?: boolean;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'write accounts or contacts with their current values (attributes as columns) as CSV or JSON',
    )
    .addOption(
      new Option('--kind <kind>', 'what to export').choices(['accounts', 'contacts']).default('accounts'),
    )
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'json']).default('csv'))
    .option('--out <file>', 'write to this file instead of stdout')
    .option(
      '--provenance',
      'add <field>__source, __provider, __cost_usd, __observed_at columns from the current field value',
    )
    .option(
      '--raw',
      "CSV: write cells exactly as stored (default: cells starting with = + - @ tab CR get a leading ' so a spreadsheet shows them as text)",
    )
    .option('--json', 'with --out: print a JSON summary ({file, kind, format, records})')
    .action(
      action(async (ctx, options: ExportCliOptions) => {
        if (options.json && !options.out) {
          throw new ConfigError(
            '--json reports on an export written with --out; for JSON data use --format json',
            {
              exitCode: 2,
            },
          );
        }
        const db = await ctx.db();
        const opts = {
          kind: options.kind,
          format: options.format,
          provenance: options.provenance,
          raw: options.raw ?? false,
        };
        if (!options.out) {
          await exportRecords(db, process.stdout, opts);
          return;
        }
        const file = createWriteStream(options.out);
        const opened = new Promise<void>((resolve, reject) => {
          file.once('open', () => resolve());
          file.once('error', (err) =>
            reject(new ConfigError(`cannot write ${options.out}: ${err.message}`, { cause: err })),
          );
        });
        await opened;
        const records = await exportRecords(db, file, opts);
        file.end();
        await finished(file);
        const summary = { file: options.out, kind: options.kind, format: options.format, records };
        if (ctx.out.json) return ctx.out.result(summary);
        ctx.out.line(`exported ${records} ${options.kind} to ${options.out} (${options.format})`);
      }),
    );
}
