import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { type Info, type Parser, parse } from 'csv-parse';
import iconv from 'iconv-lite';
import { ConfigError } from '../errors.ts';
import { DecodeStream, type DetectedEncoding } from './decode-stream.ts';
import { describeNonCsv, detectUtf16 } from './sniff-file.ts';

/** One data row: its values and the 1-based line of the file where it starts. */
export interface CsvRow {
  line: number;
  values: string[];
}

/** A row that could not be read (e.g. a quote never closed), with the line where it starts. */
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
  /** Stops reading and closes the file (also when rows() was never read to the end). */
  close(): void;
}

export interface OpenCsvOptions {
  /**
   * A record (in practice: a quoted value) longer than this many bytes is taken for a quote that was
   * never closed: its first line is rejected and reading resumes on the next line. Default 1 MiB.
   */
  maxRecordBytes?: number;
}

export const MAX_RECORD_BYTES = 1024 * 1024;

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

/** The first bytes of a file, or a ConfigError naming it when it cannot be read. */
export async function readHead(path: string, bytes = 64 * 1024): Promise<Buffer> {
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(bytes);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (err as Error).message;
    throw new ConfigError(`cannot read ${path}: ${why}`, { cause: err, exitCode: 1 });
  }
}

/**
 * Opens a CSV file for streaming: refuses files that are not CSV (workbooks, archives, JSON, binary:
 * sniff-file.ts), detects UTF-16 (with or without BOM) and the delimiter, decodes UTF-8 /
 * Windows-1252 line by line (decode-stream.ts), parses with csv-parse (quoted delimiters and
 * newlines, ragged rows, stray quotes) and reads the header row. A malformed record (see RecordReader)
 * is rejected alone and reading resumes on the line after its first. Throws ConfigError (exit 1)
 * naming the file when it cannot be read, is not CSV or has no header.
 */
export async function openCsv(path: string, options: OpenCsvOptions = {}): Promise<CsvSource> {
  const head = await readHead(path);
  const notCsv = describeNonCsv(head);
  if (notCsv) throw new ConfigError(`${path}: ${notCsv}`, { exitCode: 1 });
  const utf16 = detectUtf16(head);
  const headText = utf16
    ? iconv.decode(utf16.bom ? head.subarray(2) : head, utf16.encoding)
    : head.toString('latin1');
  const delimiter = sniffDelimiter(headText.replace(/^\uFEFF|^ï»¿/, ''));
  const decoder = new DecodeStream();
  let source: NodeJS.ReadableStream = createReadStream(path, {
    highWaterMark: 256 * 1024,
    ...(utf16?.bom ? { start: 2 } : {}),
  });
  if (utf16) source = source.pipe(iconv.decodeStream(utf16.encoding)).pipe(iconv.encodeStream('utf8'));
  source.on('error', (err) =>
    decoder.destroy(new ConfigError(`cannot read ${path}: ${err.message}`, { cause: err })),
  );
  source.pipe(decoder);
  const close = () => {
    (source as NodeJS.ReadableStream & { destroy(): void }).destroy();
    decoder.destroy();
  };
  const chunks = decoder[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const reader = new RecordReader(delimiter, options.maxRecordBytes ?? MAX_RECORD_BYTES);
  const queue: (CsvRow | CsvRowError)[] = [];
  let headers: string[] | undefined;
  let ended = false;
  const take = (items: ReturnType<RecordReader['feed']>) => {
    for (const item of items) {
      if ('header' in item) headers = item.header;
      else if (headers === undefined && 'reason' in item) {
        close();
        throw new ConfigError(
          `${path}: the header row (line ${item.line}) cannot be read: ${item.reason.replace(/; .*$/, '')}`,
        );
      } else queue.push(item);
    }
  };
  while (headers === undefined && !ended) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      take(reader.feed(null));
    } else take(reader.feed(next.value));
  }
  if (headers === undefined) {
    close();
    throw new ConfigError(`${path} is empty: expected a header row, then one row per record`);
  }
  const trimmed = headers.map((h) => h.trim());
  if (trimmed.every((h) => h === '')) {
    close();
    throw new ConfigError(`${path}: the first line is empty; it must hold the column headers`);
  }
  return {
    close,
    headers: trimmed,
    delimiter,
    encoding: () => utf16?.encoding ?? decoder.encoding,
    async *rows() {
      while (true) {
        while (queue.length > 0) yield queue.shift()!;
        if (ended) return;
        const next = await chunks.next();
        if (next.done) {
          ended = true;
          take(reader.feed(null));
        } else take(reader.feed(next.value));
      }
    },
  };
}

interface Parsed {
  values: string[];
  /** csv-parse's line counter and byte offset (of its own input) at the end of the record. */
  lines: number;
  bytes: number;
}

const NL = 0x0a;

function lineBreaks(values: string[]): number {
  let breaks = 0;
  for (const v of values) {
    for (let i = v.indexOf('\n'); i >= 0; i = v.indexOf('\n', i + 1)) breaks++;
  }
  return breaks;
}

/**
 * Records of a decoded CSV byte stream, with recovery from malformed records the way spreadsheet tools
 * recover: the record is rejected with the line it starts on, and reading starts again from the line
 * after that one, so one stray quote costs one row, not the rest of the file.
 *
 * A record is malformed when csv-parse cannot finish it (a quote still open at the end of the file, or
 * a record over `maxRecordBytes`), or when it spans several lines (a quoted value with line breaks)
 * and does not look like one record: its value count differs from the header's, or a quoted value's
 * closing quote is followed by more text (csv-parse's relax_quotes keeps such a value with its quotes).
 * Rows of one line with a wrong value count are not malformed here: their boundaries are right, and
 * the row normalizer judges their values.
 *
 * To re-read, the bytes of the record in progress are kept (from the end of the last accepted record):
 * at most one record plus one chunk. csv-parse runs synchronously inside write()/end() and hands each
 * record to `on_record`, so after each chunk we know exactly which records it completed.
 */
class RecordReader {
  /** Decoded bytes from absolute offset `windowStart` up to everything received so far. */
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;
  private parser!: Parser;
  /** Absolute offset of the current parser's first byte, and the file line before it. */
  private parserStart = 0;
  private lineBase = 0;
  /** Absolute offset just after the last accepted record, and the file line that starts there. */
  private accepted = 0;
  private nextLine = 1;
  private columns: number | undefined;
  private sink: Parsed[] = [];
  /** A line over the size limit ran past the data received: drop bytes up to its end. */
  private skipLine: number | undefined;

  constructor(
    private readonly delimiter: string,
    private readonly maxRecordBytes: number,
  ) {
    this.parser = this.newParser();
  }

  private newParser(): Parser {
    const parser = parse({
      delimiter: this.delimiter,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      max_record_size: this.maxRecordBytes,
      on_record: (record: string[], context: Info) => {
        this.sink.push({ values: record, lines: context.lines, bytes: context.bytes });
        return null;
      },
    });
    parser.on('error', () => {}); // read synchronously from parser.errored
    return parser;
  }

  /**
   * Feeds the next chunk (null: the end of the input) and returns what it completed: the header (first
   * record), data rows and rejections, in file order.
   */
  feed(chunk: Buffer | null): ({ header: string[] } | CsvRow | CsvRowError)[] {
    const out: ({ header: string[] } | CsvRow | CsvRowError)[] = [];
    let input: Buffer | null = chunk;
    if (chunk) {
      if (this.skipLine !== undefined) {
        const nl = chunk.indexOf(NL);
        if (nl < 0) {
          this.windowStart += chunk.length;
          return out;
        }
        this.windowStart += nl + 1;
        this.restart(this.windowStart, this.skipLine);
        this.skipLine = undefined;
        input = chunk.subarray(nl + 1);
      }
      this.window = this.window.length > 0 ? Buffer.concat([this.window, input!]) : input!;
    } else if (this.skipLine !== undefined) return out;
    const end = chunk === null;
    while (true) {
      this.sink = [];
      if (input !== null && input.length > 0) this.parser.write(input);
      if (end && !this.parser.errored) this.parser.end();
      let bad: { reason: string; endLine?: number } | undefined;
      for (const rec of this.sink) {
        const breaks = lineBreaks(rec.values);
        const endLine = this.lineBase + rec.lines;
        const line = endLine - breaks;
        if (this.columns === undefined) {
          this.columns = rec.values.length;
          out.push({ header: rec.values });
        } else {
          const why = breaks > 0 ? this.misread(rec.values) : undefined;
          if (why) {
            bad = {
              reason: `a quote (") on this line seems never closed: it runs to line ${endLine} and ${why}`,
            };
            break;
          }
          out.push({ line, values: rec.values });
        }
        this.accepted = this.parserStart + rec.bytes;
        this.nextLine = endLine + 1;
      }
      const err = this.parser.errored as (Error & { code?: string }) | null;
      if (!bad && err) {
        bad = {
          reason:
            err.code === 'CSV_QUOTE_NOT_CLOSED'
              ? 'a quote (") opened on this line is never closed'
              : err.code === 'CSV_MAX_RECORD_SIZE'
                ? `a value starting on this line runs over ${Math.round(this.maxRecordBytes / 1024)} KB without its closing quote (")`
                : `unreadable CSV: ${err.message}`,
        };
      }
      if (!bad) break;
      // re-read from the line after the first line of the malformed record
      this.parser.destroy();
      let i = this.accepted - this.windowStart;
      let line = this.nextLine;
      while (i < this.window.length && this.window[i] === NL) {
        i++;
        line++;
      }
      const nl = this.window.indexOf(NL, i);
      const more = !end || (nl >= 0 && nl + 1 < this.window.length);
      out.push({
        line,
        reason: more
          ? `${bad.reason}; the row is skipped and reading resumes at line ${line + 1}`
          : bad.reason,
      });
      if (nl < 0) {
        // the bad line itself is not complete yet (one line over the limit): drop bytes up to its end
        this.windowStart += this.window.length;
        this.window = Buffer.alloc(0);
        this.accepted = this.windowStart;
        if (!end) this.skipLine = line;
        return out;
      }
      const resume = this.windowStart + nl + 1;
      this.restart(resume, line);
      input = this.window.subarray(nl + 1);
    }
    this.window = this.window.subarray(this.accepted - this.windowStart);
    this.windowStart = this.accepted;
    return out;
  }

  private restart(at: number, lineBefore: number): void {
    this.parser = this.newParser();
    this.parserStart = at;
    this.lineBase = lineBefore;
    this.accepted = at;
    this.nextLine = lineBefore + 1;
  }

  /** Why a record spanning several lines is not one record, or undefined when it may be. */
  private misread(values: string[]): string | undefined {
    const columns = this.columns!;
    let count = values.length;
    while (count > columns && values[count - 1]!.trim() === '') count--;
    if (count !== columns) {
      return `leaves ${count} values for the ${columns} columns`;
    }
    if (values.some((v) => v.startsWith('"') && v.includes('\n'))) {
      return 'its closing quote is followed by more text';
    }
    return undefined;
  }
}
