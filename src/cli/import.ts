import { type Command, Option } from 'commander';
import { ConfigError } from '../errors.ts';
import type { ImportKind } from '../import/header-map.ts';
import { importFile, prepareImport } from '../import/import-file.ts';
import { isPhoneRegion } from '../normalize/phone.ts';
import { action } from './context.ts';
import { table } from './output.ts';
import { onShutdownSignal } from './run-options.ts';

interface ImportCliOptions {
  kind?: ImportKind;
  map: string[];
  region?: string;
  maxRejected: string;
  json?: boolean;
}

/** How many rejections the human summary lists (all of the first 1000 are in --json and `imports`). */
const SHOWN_ERRORS = 20;

/** Default of --max-rejected: more rejected rows than this fails the import (exit 1). */
export const DEFAULT_MAX_REJECTED = '10%';

/** `--max-rejected`: a share of the rows read (`10%`) or a number of rows (`50`). */
export function parseMaxRejected(raw: string): { percent: number } | { rows: number } {
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(raw.trim());
  if (pct && Number(pct[1]) <= 100) return { percent: Number(pct[1]) };
  if (/^\d+$/.test(raw.trim())) return { rows: Number(raw.trim()) };
  throw new ConfigError(
    `--max-rejected ${JSON.stringify(raw)}: expected a share of the rows such as 10% or a number of rows such as 50`,
    { exitCode: 2 },
  );
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .description(
      'import accounts or contacts from a CSV file (any delimiter, UTF-8, Latin-1 or UTF-16); duplicates merge, re-imports add nothing',
    )
    .argument('<file>', 'CSV file with a header row')
    .addOption(
      new Option('--kind <kind>', 'what the rows are (default: detected from the headers)').choices([
        'accounts',
        'contacts',
      ]),
    )
    .option(
      '--map <header=field>',
      'put a column into a field, e.g. --map "Course=name", --map "Par=attributes.par", --map "Notes=" (ignore); contacts files take account.<field>; "#3=…" is the 3rd column (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option(
      '--region <code>',
      'country for phone numbers without a country code (default: SLUICE_DEFAULT_REGION or US)',
    )
    .option(
      '--max-rejected <limit>',
      'fail (exit 1) when more rows than this are rejected: a share such as 10% or a number of rows',
      DEFAULT_MAX_REJECTED,
    )
    .option('--json', 'print one JSON object: inserted, merged, unchanged, rejected, errors [{line, reason}]')
    .action(
      action(async (ctx, options: ImportCliOptions, file: string) => {
        const region = (options.region ?? ctx.config.defaultRegion).toUpperCase();
        if (!isPhoneRegion(region)) {
          const given =
            options.region !== undefined
              ? `--region ${options.region}`
              : `SLUICE_DEFAULT_REGION=${ctx.config.defaultRegion}`;
          throw new ConfigError(`${given}: not a country code; use two letters such as US, GB or DE`, {
            exitCode: 2,
          });
        }
        const limit = parseMaxRejected(options.maxRejected);
        // the file is opened and checked before the database: a typo in its name costs no database
        const importOptions = { file, kind: options.kind, map: options.map, region };
        const prepared = await prepareImport(importOptions);
        const db = await ctx.db();
        // progress on an interactive stderr only, so pipes and --json output stay clean
        const tty = process.stderr.isTTY === true;
        let shown = 0;
        const onProgress = (rows: number) => {
          if (!tty || performance.now() - shown < 1000) return;
          shown = performance.now();
          process.stderr.write(`\r${rows.toLocaleString('en-US')} rows read…`);
        };
        // Ctrl-C / SIGTERM: batches already sent finish, the import is recorded as interrupted and the
        // database is closed cleanly; a second signal exits at once (the next import marks it interrupted)
        const stop = new AbortController();
        const removeHandlers = onShutdownSignal(() => stop.abort());
        let r: Awaited<ReturnType<typeof importFile>>;
        try {
          r = await importFile(db, { ...importOptions, onProgress, signal: stop.signal }, prepared);
        } finally {
          removeHandlers();
        }
        if (tty && shown > 0) process.stderr.write('\r\x1b[K');
        const allowed = 'percent' in limit ? (r.rowsRead * limit.percent) / 100 : limit.rows;
        const overLimit = r.status === 'done' && r.rejected > allowed;
        const share = r.rowsRead > 0 ? Math.round((r.rejected / r.rowsRead) * 1000) / 10 : 0;
        const fmt = (n: number) => n.toLocaleString('en-US');
        const overMessage = `${fmt(r.rejected)} of ${fmt(r.rowsRead)} rows (${share}%) were rejected, more than --max-rejected ${options.maxRejected}: the other rows are imported, but check the file (delimiter, encoding, headers, --map) and import it again, or raise --max-rejected`;
        const interruptedMessage = `import #${r.importId} was interrupted: ${fmt(r.rowsRead)} rows were saved; run the same command again to import the rest (rows already imported are not duplicated)`;
        if (ctx.out.json) {
          ctx.out.result({ ...r, maxRejected: options.maxRejected, overLimit });
        } else {
          const delimiter = r.delimiter === '\t' ? 'tab' : `"${r.delimiter}"`;
          ctx.out.line(
            r.status === 'interrupted'
              ? ctx.out.style(
                  'yellow',
                  `Interrupted: import #${r.importId} of ${r.kind} from ${file}; saved:`,
                )
              : `Imported ${r.kind} from ${file} (import #${r.importId}; ${r.encoding}, ${delimiter}-delimited)`,
          );
          ctx.out.line(
            table([
              ['rows read', r.rowsRead],
              ['inserted', r.inserted],
              ['merged', r.merged],
              ['unchanged', r.unchanged],
              ['rejected', r.rejected],
            ]),
          );
          if (r.accounts) {
            ctx.out.line(
              `companies: ${r.accounts.inserted} created, ${r.accounts.merged} filled in, ${r.accounts.unchanged} already known`,
            );
          }
          if (r.rejected > 0) {
            ctx.out.line();
            ctx.out.line(
              ctx.out.style(
                'yellow',
                `Rejected rows${r.rejected > SHOWN_ERRORS ? ` (first ${SHOWN_ERRORS} of ${r.rejected})` : ''}:`,
              ),
            );
            for (const e of r.errors.slice(0, SHOWN_ERRORS)) ctx.out.line(`  line ${e.line}: ${e.reason}`);
            ctx.out.line('Fix them and import the file again: rows already imported are not duplicated.');
          }
          if (overLimit) {
            ctx.out.line();
            ctx.out.line(ctx.out.style(['red', 'bold'], `TOO MANY REJECTED ROWS: ${overMessage}.`));
          }
        }
        if (r.status === 'interrupted') ctx.out.incomplete(interruptedMessage);
        else if (overLimit) ctx.out.incomplete(`error: ${overMessage}`);
      }),
    );
}
