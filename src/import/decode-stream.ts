import { isAscii, isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import iconv from 'iconv-lite';

/** What the bytes turned out to be. `mixed`: some lines UTF-8, some Windows-1252 (concatenated exports). */
export type DetectedEncoding = 'utf-8' | 'windows-1252' | 'mixed' | 'utf-16le' | 'utf-16be';

/**
 * Bytes → text, line by line, so a Latin-1/Windows-1252 file (Excel "CSV" on Windows) reads right
 * without knowing its encoding: each chunk is cut after its last "\n"; a chunk that is valid UTF-8 is
 * decoded as such (the fast path), otherwise each of its lines is decoded as UTF-8 when valid and as
 * Windows-1252 when not. A UTF-8 BOM is dropped. Line endings become "\n" (CRLF and old-Mac CR), which
 * also keeps csv-parse's line numbers right. The output is UTF-8 bytes (a valid UTF-8 chunk without
 * CR passes through uncopied), so the reader can re-read part of it (read-csv.ts).
 */
export class DecodeStream extends Transform {
  private carry: Buffer = Buffer.alloc(0);
  private first = true;
  private sawUtf8NonAscii = false;
  private sawLegacy = false;
  private pendingCr = false;

  constructor() {
    super({ readableObjectMode: false, decodeStrings: true });
  }

  get encoding(): DetectedEncoding {
    if (this.sawLegacy) return this.sawUtf8NonAscii ? 'mixed' : 'windows-1252';
    return 'utf-8';
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let buf = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    if (this.first) {
      this.first = false;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
    }
    let cut = buf.lastIndexOf(0x0a);
    // a file with CR-only line ends has no "\n": cut at the last "\r" instead
    if (cut < 0) cut = buf.lastIndexOf(0x0d);
    if (cut < 0) {
      this.carry = buf;
      done();
      return;
    }
    this.carry = Buffer.from(buf.subarray(cut + 1));
    this.emit_(buf.subarray(0, cut + 1));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.carry.length > 0) this.emit_(this.carry);
    this.carry = Buffer.alloc(0);
    done();
  }

  private emit_(bytes: Buffer): void {
    if (!this.pendingCr && !bytes.includes(0x0d) && isUtf8(bytes)) {
      if (!this.sawUtf8NonAscii && !isAscii(bytes)) this.sawUtf8NonAscii = true;
      if (bytes.length > 0) this.push(bytes);
      return;
    }
    let text = this.decode(bytes);
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = text.endsWith('\r');
    if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
    if (text !== '') this.push(Buffer.from(text, 'utf8'));
  }

  private decode(bytes: Buffer): string {
    if (isUtf8(bytes)) {
      if (!this.sawUtf8NonAscii && !isAscii(bytes)) this.sawUtf8NonAscii = true;
      return bytes.toString('utf8');
    }
    const parts: string[] = [];
    let start = 0;
    while (start < bytes.length) {
      let end = bytes.indexOf(0x0a, start);
      end = end < 0 ? bytes.length : end + 1;
      const line = bytes.subarray(start, end);
      if (isUtf8(line)) {
        if (!isAscii(line)) this.sawUtf8NonAscii = true;
        parts.push(line.toString('utf8'));
      } else {
        this.sawLegacy = true;
        parts.push(iconv.decode(line, 'win1252'));
      }
      start = end;
    }
    return parts.join('');
  }
}
