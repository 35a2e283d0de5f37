import { stripVTControlCharacters, styleText } from 'node:util';
import { ConfigError, SluiceError } from '../errors.ts';
import { redactSecrets } from '../logger.ts';

/**
 * Printing helpers shared by every command, and the one place a command's outcome becomes an exit code:
 *
 * - 0: everything asked for was done;
 * - 1: it failed, or part of it was not done (a run failed, a budget or a rejection threshold stopped
 *   the work): a command that printed its result says so with `out.incomplete(reason)`;
 * - 2: usage error (bad flag, bad `--where`, bad pipeline name): `ConfigError` with `exitCode: 2`.
 *
 * With `--json`, a failure prints `{"error": {"code", "message", "details"}}` on stdout (unless the
 * command already printed its result document), and the message on stderr as always. Colour only on a
 * TTY and when NO_COLOR is unset.
 */
export interface Output {
  json: boolean;
  color: boolean;
  /** A line of human output (suppressed in --json mode). */
  line(text?: string): void;
  /** The one JSON document a --json command prints. */
  result(value: unknown): void;
  /** Warnings and progress go to stderr so stdout stays parseable. */
  warn(text: string): void;
  /**
   * The command ran but did not do everything asked (runs failed, a budget stopped it): prints the
   * reason on stderr and makes the exit code 1. The result document (if any) is printed as usual.
   */
  incomplete(reason: string): void;
  style(format: Parameters<typeof styleText>[0], text: string): string;
}

/** What main.ts reads once the command has returned. */
const outcome: { resultPrinted: boolean; incomplete: string[] } = { resultPrinted: false, incomplete: [] };

/** Forgets the previous command's outcome (`main` runs one command line; a test may run several). */
export function resetOutcome(): void {
  outcome.resultPrinted = false;
  outcome.incomplete = [];
}

/** The exit code of a command that returned normally: 1 when it reported unfinished work. */
export function completedExitCode(): 0 | 1 {
  return outcome.incomplete.length > 0 ? 1 : 0;
}

/** Marks the work as not (fully) done: exit code 1. For code paths that have no Output at hand. */
export function markIncomplete(reason: string): void {
  outcome.incomplete.push(reason);
}

/** The error document of `--json` failures. */
export interface ErrorDocument {
  error: { code: string; message: string; details: Record<string, unknown> };
}

/** Error details a command attaches (`details` on the error; pipeline issues; a `--where` position). */
function detailsOf(err: unknown): Record<string, unknown> {
  if (!err || typeof err !== 'object') return {};
  const e = err as { details?: unknown; issues?: unknown };
  const details: Record<string, unknown> =
    e.details && typeof e.details === 'object' ? { ...(e.details as Record<string, unknown>) } : {};
  if (Array.isArray(e.issues) && details.issues === undefined) details.issues = e.issues;
  return details;
}

/** Exit code for an error that ended a command. */
export function exitCodeOf(err: unknown): 1 | 2 {
  if (err instanceof ConfigError) return err.exitCode;
  return 1;
}

/**
 * A stable, machine-readable code: `usage` (exit 2), `config` (bad configuration or input, exit 1),
 * the error class of other Sluice errors (`budget`, `infrastructure`, `critical`, `quota_exhausted`…),
 * `internal` for anything else (a bug).
 */
export function errorCodeOf(err: unknown): string {
  const own = (err as { jsonCode?: unknown } | undefined)?.jsonCode;
  if (typeof own === 'string') return own;
  if (err instanceof ConfigError) return err.exitCode === 2 ? 'usage' : 'config';
  if (err instanceof SluiceError) return err.errorClass;
  return 'internal';
}

export function errorDocument(
  err: unknown,
  override: { code?: string; message?: string; details?: Record<string, unknown> } = {},
): ErrorDocument {
  const message = override.message ?? (err instanceof Error ? err.message : String(err));
  return {
    error: {
      code: override.code ?? errorCodeOf(err),
      message: redactSecrets(message),
      details: { ...detailsOf(err), ...override.details },
    },
  };
}

/**
 * Prints a failure the one way every command does: `error: message` on stderr (the stack only with
 * SLUICE_DEBUG), and with `--json` the error document on stdout unless a result was already printed.
 */
export function reportError(
  err: unknown,
  options: {
    json: boolean;
    code?: string;
    message?: string;
    details?: Record<string, unknown>;
    quietStderr?: boolean;
  },
): void {
  const doc = errorDocument(err, options);
  if (!options.quietStderr) process.stderr.write(`error: ${doc.error.message}\n`);
  if (process.env.SLUICE_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  else if (!(err instanceof SluiceError) && options.code === undefined && !options.quietStderr)
    process.stderr.write('(set SLUICE_DEBUG=1 for the stack trace)\n');
  if (options.json && !outcome.resultPrinted) writeStdout(`${JSON.stringify(doc, null, 2)}\n`);
}

/** Writes to stdout unless it is gone (a closed pipe: `sluice export | head -1`). */
function writeStdout(text: string): void {
  if (process.stdout.destroyed || process.stdout.writableEnded) return;
  process.stdout.write(text);
}

export function createOutput(options: { json?: boolean; color?: boolean }): Output {
  const json = options.json ?? false;
  const color = (options.color ?? true) && process.stdout.isTTY === true;
  return {
    json,
    color,
    line(text = '') {
      if (!json) writeStdout(`${color ? text : stripVTControlCharacters(text)}\n`);
    },
    result(value) {
      outcome.resultPrinted = true;
      writeStdout(`${JSON.stringify(value, null, 2)}\n`);
    },
    warn(text) {
      process.stderr.write(`${redactSecrets(text)}\n`);
    },
    incomplete(reason) {
      markIncomplete(reason);
      process.stderr.write(`${redactSecrets(reason)}\n`);
    },
    style(format, text) {
      return color ? styleText(format, text, { validateStream: false }) : text;
    },
  };
}

/** A fixed-width table for human output. */
export function table(rows: (string | number)[][], header?: string[]): string {
  const all = header ? [header, ...rows] : rows;
  const widths: number[] = [];
  for (const r of all) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, String(c).length);
    });
  }
  const fmt = (r: (string | number)[]) =>
    r
      .map((c, i) =>
        typeof c === 'number' ? String(c).padStart(widths[i] ?? 0) : String(c).padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const lines = all.map(fmt);
  if (header) lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return lines.join('\n');
}
