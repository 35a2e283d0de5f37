import { z } from '@hono/zod-openapi';
import { ApiProblem } from '../problem.ts';

/** Query of every list: a --where filter, a page size, and the opaque keyset cursor of the last page. */
export const ListQuery = z.object({
  where: z.string().max(2000).optional().openapi({ example: 'state=VA and phone is not empty' }),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(100).optional(),
});

export function encodeCursor(id: number): string {
  return Buffer.from(`id:${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const m = /^id:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new ApiProblem(400, 'Bad Request', 'cursor is not one this API returned', { slug: 'cursor' });
  return Number(m[1]);
}
