import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * A `multipart/form-data` body read as a stream (the dashboard's CSV upload): small text fields are
 * collected, the one file field is written straight to disk, so an upload of any size up to the limit
 * holds one network chunk in memory, never the file. Fields are seen in the order the browser sends
 * them, which is document order: `beforeFile` runs when the file part starts, with the fields before
 * it (the CSRF token), and may refuse before a byte of the file is written.
 */
export interface StreamedUpload {
  fields: Record<string, string>;
  /** The file part's name as sent (`filename=`), when there was one with content. */
  fileName: string | undefined;
  bytes: number;
}

export class UploadError extends Error {
  constructor(
    readonly status: 400 | 403 | 413,
    message: string,
  ) {
    super(message);
  }
}

/** Text fields larger than this are refused (a form field, not a file). */
const MAX_FIELD_BYTES = 64 * 1024;
const MAX_HEADER_BYTES = 16 * 1024;

export function boundaryOf(contentType: string | undefined): string {
  const m = /^multipart\/form-data\s*;.*?boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType ?? '');
  const b = m?.[1] ?? m?.[2];
  if (!b || b.length > 200) throw new UploadError(400, 'send the upload as multipart/form-data');
  return b;
}

function partName(headers: string): { name: string; fileName: string | undefined } {
  const disp = /^content-disposition:\s*form-data(.*)$/im.exec(headers)?.[1] ?? '';
  const name = /;\s*name="([^"]*)"/i.exec(disp)?.[1];
  if (name === undefined) throw new UploadError(400, 'a form part has no name');
  const fileName = /;\s*filename="([^"]*)"/i.exec(disp)?.[1];
  return { name, fileName };
}

/**
 * Reads the body, writing the part named `fileField` to `path` (at most `maxFileBytes`: a 413 past it).
 * The CRLF before each delimiter belongs to the delimiter (RFC 7578 / 2046), so a file's bytes are kept
 * exactly.
 */
export async function streamUpload(
  body: ReadableStream<Uint8Array>,
  o: {
    contentType: string | undefined;
    fileField: string;
    path: string;
    maxFileBytes: number;
    beforeFile?: (fields: Record<string, string>) => void;
  },
): Promise<StreamedUpload> {
  const delim = Buffer.from(`\r\n--${boundaryOf(o.contentType)}`);
  const out: StreamedUpload = { fields: {}, fileName: undefined, bytes: 0 };
  // The body starts with the delimiter without its CRLF: prepend one so every delimiter looks alike.
  let buf: Buffer = Buffer.from('\r\n');
  let state: 'preamble' | 'after-delim' | 'headers' | 'body' | 'done' = 'preamble';
  let part: { name: string; file: boolean; chunks: Buffer[]; size: number } | undefined;
  let file: WriteStream | undefined;
  const write = async (data: Buffer) => {
    if (data.length === 0 || !part) return;
    part.size += data.length;
    if (part.file) {
      out.bytes += data.length;
      if (out.bytes > o.maxFileBytes)
        throw new UploadError(413, `uploads are limited to ${Math.round(o.maxFileBytes / 1048576)} MB`);
      if (!file!.write(data)) await once(file!, 'drain');
    } else {
      if (part.size > MAX_FIELD_BYTES) throw new UploadError(400, `form field "${part.name}" is too long`);
      part.chunks.push(data);
    }
  };
  const endPart = async () => {
    if (!part) return;
    if (part.file) {
      const f = file!;
      file = undefined;
      f.end();
      await once(f, 'close');
    } else out.fields[part.name] = Buffer.concat(part.chunks).toString('utf8');
    part = undefined;
  };
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (value) buf = buf.length ? Buffer.concat([buf, value]) : Buffer.from(value);
      // consume as much of buf as the state machine can
      for (;;) {
        if (state === 'preamble' || state === 'body') {
          const at = buf.indexOf(delim);
          if (at < 0) {
            // keep a tail that could be the start of a delimiter
            const keep = Math.min(buf.length, delim.length - 1);
            if (state === 'body') await write(buf.subarray(0, buf.length - keep));
            buf = buf.subarray(buf.length - keep);
            break;
          }
          if (state === 'body') await write(buf.subarray(0, at));
          await endPart();
          buf = buf.subarray(at + delim.length);
          state = 'after-delim';
        }
        if (state === 'after-delim') {
          if (buf.length < 2) break;
          if (buf[0] === 0x2d && buf[1] === 0x2d) {
            state = 'done';
            break;
          }
          // transport padding is allowed before the CRLF
          const eol = buf.indexOf('\r\n');
          if (eol < 0) break;
          buf = buf.subarray(eol + 2);
          state = 'headers';
        }
        if (state === 'headers') {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) {
            if (buf.length > MAX_HEADER_BYTES)
              throw new UploadError(400, 'a form part has oversized headers');
            break;
          }
          const { name, fileName } = partName(buf.subarray(0, end).toString('utf8'));
          buf = buf.subarray(end + 4);
          const isFile = name === o.fileField && fileName !== undefined;
          if (isFile) {
            if (file || out.fileName !== undefined) throw new UploadError(400, 'send one file');
            o.beforeFile?.(out.fields);
            out.fileName = fileName;
            file = createWriteStream(o.path);
          }
          part = { name, file: isFile, chunks: [], size: 0 };
          state = 'body';
          continue;
        }
        break;
      }
      if (state === 'done') break;
      if (done) throw new UploadError(400, 'the upload ended before its last part (interrupted?)');
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  } finally {
    if (file) {
      const f: WriteStream = file;
      f.destroy();
      await once(f, 'close').catch(() => {});
    }
  }
  return out;
}
