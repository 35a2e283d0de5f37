/**
 * What a file is before it is read as CSV: a UTF-16 text file (with or without a byte-order mark), or
 * something that is not a CSV file at all (a workbook, an archive, JSON, HTML, binary data), named so
 * the user knows what to do instead of seeing its bytes as column headers.
 */

export type Utf16 = 'utf-16le' | 'utf-16be';

/** UTF-16 from its byte-order mark, or from the zero bytes of mostly-ASCII text without one. */
export function detectUtf16(head: Buffer): { encoding: Utf16; bom: boolean } | undefined {
  if (head[0] === 0xff && head[1] === 0xfe) return { encoding: 'utf-16le', bom: true };
  if (head[0] === 0xfe && head[1] === 0xff) return { encoding: 'utf-16be', bom: true };
  const n = Math.min(head.length, 4096) & ~1;
  if (n < 4) return undefined;
  let evenZero = 0;
  let oddZero = 0;
  for (let i = 0; i < n; i += 2) {
    if (head[i] === 0) evenZero++;
    if (head[i + 1] === 0) oddZero++;
  }
  const pairs = n / 2;
  // Latin text in UTF-16LE is "a\0b\0…": almost every odd byte is zero and almost no even byte
  if (oddZero > pairs * 0.4 && evenZero < pairs * 0.05) return { encoding: 'utf-16le', bom: false };
  if (evenZero > pairs * 0.4 && oddZero < pairs * 0.05) return { encoding: 'utf-16be', bom: false };
  return undefined;
}

const EXPORT_AS_CSV =
  'open it in Excel, Numbers, LibreOffice or Google Sheets and export the sheet as CSV (File › Save As / Download › CSV UTF-8), then import that file';

/** Formats known by their first bytes. */
const MAGIC: { bytes: number[]; what: (head: Buffer) => string }[] = [
  {
    bytes: [0x50, 0x4b, 0x03, 0x04],
    what: (head) => {
      const text = head.toString('latin1');
      if (text.includes('xl/') || text.includes('[Content_Types].xml'))
        return `this looks like an Excel workbook (XLSX), not a CSV file: ${EXPORT_AS_CSV}`;
      if (text.includes('opendocument.spreadsheet'))
        return `this looks like a LibreOffice/OpenDocument spreadsheet (ODS), not a CSV file: ${EXPORT_AS_CSV}`;
      return 'this is a ZIP archive, not a CSV file: unzip it and import the CSV file inside';
    },
  },
  { bytes: [0x50, 0x4b, 0x05, 0x06], what: () => 'this is an empty ZIP archive, not a CSV file' },
  {
    bytes: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
    what: () => `this looks like an old Excel workbook (XLS), not a CSV file: ${EXPORT_AS_CSV}`,
  },
  {
    bytes: [0x1f, 0x8b],
    what: () => 'this is a gzip-compressed file, not a CSV file: decompress it first (gunzip FILE)',
  },
  { bytes: [0x25, 0x50, 0x44, 0x46], what: () => 'this is a PDF document, not a CSV file' },
  { bytes: [0x89, 0x50, 0x4e, 0x47], what: () => 'this is a PNG image, not a CSV file' },
  { bytes: [0xff, 0xd8, 0xff], what: () => 'this is a JPEG image, not a CSV file' },
  { bytes: [0x47, 0x49, 0x46, 0x38], what: () => 'this is a GIF image, not a CSV file' },
  {
    bytes: [...Buffer.from('SQLite format 3\0', 'latin1')],
    what: () => 'this is a SQLite database, not a CSV file: export the table as CSV first',
  },
  {
    bytes: [0x50, 0x41, 0x52, 0x31],
    what: () => 'this is a Parquet file, not a CSV file: convert it to CSV first',
  },
  { bytes: [0x7f, 0x45, 0x4c, 0x46], what: () => 'this is a program (ELF binary), not a CSV file' },
];

/** Control bytes that never occur in a text file (tab, newlines, form feed and escape excepted). */
function isControlByte(b: number): boolean {
  return b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b;
}

/**
 * Why `head` (the first bytes of a file) is not a CSV file, or undefined when it may be one. A text
 * file that is UTF-16 is not reported here (it is decoded: see detectUtf16).
 */
export function describeNonCsv(head: Buffer): string | undefined {
  for (const m of MAGIC) {
    if (head.length >= m.bytes.length && m.bytes.every((b, i) => head[i] === b)) return m.what(head);
  }
  if (detectUtf16(head)) return undefined;
  const sample = head.subarray(0, 8192);
  let control = 0;
  for (const b of sample) if (isControlByte(b)) control++;
  // a stray NUL or two in a text export is dropped later (text.ts); binary data is full of them
  if (control > Math.max(4, sample.length / 100)) {
    return (
      `this is not a text file (${control} control bytes in its first ${sample.length} bytes): ` +
      'if it is a spreadsheet, export it as CSV UTF-8; if it is a UTF-16 text export, save it as CSV UTF-8'
    );
  }
  const text = sample
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (/^(\{\s*("|\})|\[\s*(\{|\[|"|\]|-?\d))/.test(text)) {
    return (
      'this looks like JSON, not a CSV file: Sluice imports CSV files (a header row, then one row per ' +
      'record); convert it to CSV first (e.g. with jq or a spreadsheet)'
    );
  }
  if (/^<(!doctype\s+html|html[\s>])/i.test(text)) {
    return 'this is an HTML page, not a CSV file (a download link that returned a web page?)';
  }
  if (/^<\?xml/i.test(text)) {
    return text.includes('urn:schemas-microsoft-com:office:spreadsheet')
      ? `this looks like an Excel XML spreadsheet, not a CSV file: ${EXPORT_AS_CSV}`
      : 'this is an XML file, not a CSV file: convert it to CSV first';
  }
  return undefined;
}

/**
 * A header or value as shown in a message: quoted, control and invisible characters escaped, cut to
 * `max` characters, so a message (or a suggested `--map`) never carries raw control bytes.
 */
export function showText(value: string, max = 60): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(cut).replace(
    /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\u2028\u2029\uFFFD]/gu,
    (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`,
  );
}
