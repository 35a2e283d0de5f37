import { stripVTControlCharacters, styleText } from 'node:util';

/** Printing helpers shared by every command. Colour only on a TTY and when NO_COLOR is unset. */
export interface Output {
  json: boolean;
  color: boolean;
  /** A line of human output (suppressed in --json mode). */
  line(text?: string): void;
  /** The one JSON document a --json command prints. */
  result(value: unknown): void;
  /** Warnings and progress go to stderr so stdout stays parseable. */
  warn(text: string): void;
  style(format: Parameters<typeof styleText>[0], text: string): string;
}

export function createOutput(options: { json?: boolean; color?: boolean }): Output {
  const json = options.json ?? false;
  const color = (options.color ?? true) && process.stdout.isTTY === true;
  return {
    json,
    color,
    line(text = '') {
      if (!json) process.stdout.write(`${color ? text : stripVTControlCharacters(text)}\n`);
    },
    result(value) {
      process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    warn(text) {
      process.stderr.write(`${text}\n`);
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
