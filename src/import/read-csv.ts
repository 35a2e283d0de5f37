import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { type Info, parse } from 'csv-parse';
import iconv from 'iconv-lite';
import { ConfigError } from '../errors.ts';
import { DecodeStream, type DetectedEncoding } from './decode-stream.ts';

/** One data row: its values and the 1-based line of the file where it starts. */
export interface CsvRow {
  line: number;
  values: string[];
}

/** A row csv-parse could not read (e.g. a quote never closed), with the line where it starts. */
export interface CsvRowError {
  line: number;
  reason: string;
}

export interface CsvSource {
  headers: string[];
  delimiter: string;
  /** Known once the whole file has been read (the decoder decides line by line). */
  encoding(): DetectedEncoding;
  /** Data rows in file order, streamed with backpressure; errors interleaved where they occur. */
  rows(): AsyncGenerator<CsvRow | CsvRowError>;
}

const CANDIDATES = [',', ';', '\t', '|'];

/**
 * The delimiter of a CSV file: the candidate that occurs most often in its header line outside quotes
 * (`,` on a tie or when none occurs). Exported for tests.
 */
export function sniffDelimiter(head: string): string {
  const counts = new Map(CANDIDATES.map((c) => [c, 0]));
  let quoted = false;
  for (const ch of head) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted && counts.has(ch)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  }
  let best = ',';
  for (const [c, n] of counts) if (n > (counts.get(best) ?? 0)) best = c;
  return best;
}

/**
 * Opens a CSV file for streaming: sniffs the delimiter and UTF-16, decodes UTF-8 / Windows-1252 line by
 * line (decode-stream.ts), parses with csv-parse (quoted commas and newlines, ragged rows, stray quotes)
 * and reads the header row. Throws ConfigError (exit 1) naming the file when it cannot be read or has
 * no header.
 */
export async function openCsv(path: string): Promise<CsvSource> {
  let head: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new ConfigError(`cannot read ${path}: ${why}`, { cause: err, exitCode: 1 });
  }
  const utf16 =
    head[0] === 0xff && head[1] === 0xfe
      ? 'utf-16le'
      : head[0] === 0xfe && head[1] === 0xff
        ? 'utf-16be'
        : undefined;
  const headText = utf16 ? iconv.decode(head, utf16) : head.toString('latin1');
  const delimiter = sniffDelimiter(headText.replace(/^\uFEFF|^ï»¿/, ''));
  const decoder = new DecodeStream();
  let lastEnd = 0;
  const parser = parse({
    delimiter,
    info: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_record: (record, context) => {
      lastEnd = context.lines;
      return record;
    },
  });
  const errors: CsvRowError[] = [];
  parser.on('skip', (err: Error & { lines?: number }) => {
    errors.push({
      line: lastEnd + 1,
      reason: `unreadable CSV: ${err.message.replace(/^Invalid Record Length: /, '')}`,
    });
  });
  let source: NodeJS.ReadableStream = createReadStream(path, { highWaterMark: 256 * 1024 });
  if (utf16) source = source.pipe(iconv.decodeStream(utf16)).pipe(iconv.encodeStream('utf8'));
  source.on('error', (err) =>
    parser.destroy(new ConfigError(`cannot read ${path}: ${err.message}`, { cause: err })),
  );
  source.pipe(decoder).pipe(parser);
  const iterator = parser[Symbol.asyncIterator]() as AsyncIterator<{ record: string[]; info: Info }>;
  const first = await iterator.next();
  if (first.done) throw new ConfigError(`${path} is empty: expected a header row, then one row per record`);
  const headers = first.value.record.map((h) => h.trim());
  if (headers.every((h) => h === ''))
    throw new ConfigError(`${path}: the first line is empty; it must hold the column headers`);
  return {
    headers,
    delimiter,
    encoding: () => utf16 ?? decoder.encoding,
    async *rows() {
      while (true) {
        const next = await iterator.next();
        while (errors.length > 0) yield errors.shift()!;
        if (next.done) return;
        const { record, info } = next.value;
        let breaks = 0;
        for (const v of record) {
          for (let i = v.indexOf('\n'); i >= 0; i = v.indexOf('\n', i + 1)) breaks++;
        }
        yield { line: info.lines - breaks, values: record };
      }
    },
  };
}
