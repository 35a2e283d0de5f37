import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { OutboundRefusedError } from './outbound-error.ts';

/**
 * Reads a response body into memory, decompressed (gzip, deflate, br), refusing it as soon as the
 * DECOMPRESSED size passes `maxBytes`: a small compressed body that inflates to gigabytes is stopped
 * at the cap, not after. Time is capped by the caller's abort signal, which destroys the socket.
 */
export function readBody(res: IncomingMessage, maxBytes: number, what: string): Promise<Buffer> {
  const encoding = String(res.headers['content-encoding'] ?? '')
    .trim()
    .toLowerCase();
  let stream: Readable = res;
  if (encoding === 'gzip' || encoding === 'x-gzip') stream = res.pipe(createGunzip());
  else if (encoding === 'deflate') stream = res.pipe(createInflate());
  else if (encoding === 'br') stream = res.pipe(createBrotliDecompress());
  const declared = Number(res.headers['content-length']);
  return new Promise((resolve, reject) => {
    const tooLarge = () =>
      new OutboundRefusedError(
        `${what} answered with a body over the ${maxBytes}-byte cap; not read`,
        'too_large',
      );
    if (stream === res && Number.isFinite(declared) && declared > maxBytes) {
      res.destroy();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: Error) => {
      res.destroy();
      if (stream !== res) stream.destroy();
      reject(err);
    };
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) fail(tooLarge());
      else chunks.push(chunk);
    });
    let ended = false;
    stream.on('end', () => {
      ended = true;
      resolve(Buffer.concat(chunks));
    });
    stream.on('error', fail);
    // The socket's errors (reset, abort by the time cap) arrive on the response, not on a zlib pipe.
    if (stream !== res) res.on('error', fail);
    res.on('close', () => {
      if (!res.complete && !ended)
        fail(Object.assign(new Error('connection closed before the body ended'), { code: 'ECONNRESET' }));
    });
  });
}

/** The body as text, in the charset the content type names (UTF-8 when unknown). */
export function decodeText(body: Buffer, contentType: string | null): string {
  const charset = /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType ?? '')?.[1];
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body);
  }
}
