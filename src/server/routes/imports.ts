import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { importFile } from '../../import/import-file.ts';
import { ApiProblem, problemResponses } from '../problem.ts';
import type { ServerEnv } from '../server-env.ts';

/**
 * `POST /v1/imports`: a CSV body (any size up to the upload limit) is streamed to a temporary file and
 * imported by the same importer as `sluice import` — same header mapping, normalization, dedupe, and
 * per-row rejections with line numbers — then the file is removed.
 */
export function registerImportRoutes(app: OpenAPIHono<ServerEnv>): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/imports',
      tags: ['imports'],
      summary: 'import a CSV of accounts or contacts (the body is the file)',
      request: {
        query: z.object({
          kind: z.enum(['accounts', 'contacts']).optional(),
          map: z
            .union([z.string(), z.array(z.string())])
            .optional()
            .openapi({ description: 'like --map "Header=field"; repeatable' }),
          name: z.string().max(200).optional().openapi({ description: 'file name recorded in imports.file' }),
        }),
        body: {
          required: true,
          content: { 'text/csv': { schema: z.string().openapi({ format: 'binary' }) } },
        },
      },
      responses: {
        200: {
          description: 'import counts and per-row rejections',
          content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
        },
        ...problemResponses(400, 413, 422),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const s = c.get('services');
      const limit = s.uploadLimitBytes ?? 512 * 1024 * 1024;
      const body = c.req.raw.body;
      if (!body)
        throw new ApiProblem(400, 'Bad Request', 'send the CSV file as the request body', {
          slug: 'import-body',
        });
      const dir = await mkdtemp(join(tmpdir(), 'sluice-upload-'));
      const file = join(dir, (q.name ?? 'upload.csv').replace(/[^\w.-]+/g, '_'));
      try {
        let bytes = 0;
        const count = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            bytes += chunk.length;
            if (bytes > limit)
              cb(
                new ApiProblem(
                  413,
                  'Content Too Large',
                  `uploads are limited to ${limit} bytes (--upload-limit-mb)`,
                ),
              );
            else cb(null, chunk);
          },
        });
        await pipeline(
          Readable.fromWeb(body as unknown as WebReadableStream<Uint8Array>),
          count,
          createWriteStream(file),
        );
        const map = q.map === undefined ? [] : Array.isArray(q.map) ? q.map : [q.map];
        const result = await importFile(s.db, { file, ...(q.kind ? { kind: q.kind } : {}), map });
        return c.json({ ...result, file: q.name ?? 'upload.csv' } as Record<string, unknown>, 200);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
}
