import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamUpload, UploadError } from '../src/ui/multipart-upload.ts';

/** A multipart body as the browser sends it, cut into chunks of `size` bytes (boundaries split across). */
async function encoded(form: FormData): Promise<{ bytes: Buffer; type: string }> {
  const r = new Request('http://x/', { method: 'POST', body: form });
  return { bytes: Buffer.from(await r.arrayBuffer()), type: r.headers.get('content-type')! };
}
function chunked(bytes: Buffer, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(new Uint8Array(bytes.subarray(at, at + size)));
      at += size;
    },
  });
}

describe('streamed dashboard upload (multipart/form-data)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-upload-test-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes the file exactly (CRLFs, dashes, bytes that look like a boundary) at any chunk size, with the fields', async () => {
    const content = Buffer.concat([
      Buffer.from('name,website\r\n"A\r\n--B",a.example\r\n'),
      Buffer.from([0, 255, 13, 10, 45, 45, 13, 10]),
      Buffer.from('é'.repeat(5000)),
    ]);
    const form = new FormData();
    form.append('_csrf', 'tok');
    form.append('kind', 'accounts');
    form.append('file', new File([content], 'my file.csv'));
    const { bytes, type } = await encoded(form);
    for (const size of [1, 7, 70, 4096, bytes.length]) {
      const path = join(dir, `f${size}.csv`);
      let before: Record<string, string> | undefined;
      const r = await streamUpload(chunked(bytes, size), {
        contentType: type,
        fileField: 'file',
        path,
        maxFileBytes: 1 << 20,
        beforeFile: (f) => {
          before = { ...f };
        },
      });
      expect(r).toEqual({
        fields: { _csrf: 'tok', kind: 'accounts' },
        fileName: 'my file.csv',
        bytes: content.length,
      });
      expect(before).toEqual({ _csrf: 'tok', kind: 'accounts' }); // the fields before the file, the token among them
      expect(Buffer.compare(await readFile(path), content)).toBe(0);
    }
  });

  it('refuses before writing when beforeFile says so, and past the size limit with a 413', async () => {
    const form = new FormData();
    form.append('file', new File(['x'.repeat(10_000)], 'x.csv'));
    const { bytes, type } = await encoded(form);
    const path = join(dir, 'refused.csv');
    const refuse = streamUpload(chunked(bytes, 512), {
      contentType: type,
      fileField: 'file',
      path,
      maxFileBytes: 1 << 20,
      beforeFile: () => {
        throw new UploadError(403, 'no token');
      },
    });
    await expect(refuse).rejects.toMatchObject({ status: 403 });
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
    const big = streamUpload(chunked(bytes, 512), {
      contentType: type,
      fileField: 'file',
      path: join(dir, 'big.csv'),
      maxFileBytes: 4096,
    });
    await expect(big).rejects.toMatchObject({ status: 413 });
  });

  it('says so when the body is cut off or is not multipart', async () => {
    const form = new FormData();
    form.append('file', new File(['a,b\n1,2\n'], 'x.csv'));
    const { bytes, type } = await encoded(form);
    const cut = streamUpload(chunked(bytes.subarray(0, bytes.length - 20), 64), {
      contentType: type,
      fileField: 'file',
      path: join(dir, 'cut.csv'),
      maxFileBytes: 1 << 20,
    });
    await expect(cut).rejects.toThrow(/ended before its last part/);
    await expect(
      streamUpload(chunked(bytes, 64), {
        contentType: 'text/csv',
        fileField: 'file',
        path: join(dir, 'x.csv'),
        maxFileBytes: 1 << 20,
      }),
    ).rejects.toMatchObject({ status: 400 });
  });
});
