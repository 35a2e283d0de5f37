import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ConfigError, CriticalError, InfrastructureError } from '../errors.ts';

/**
 * RFC 9457 problem details: every error the API answers is `application/problem+json` with `type`,
 * `title`, `status`, `detail`, `instance`, and for invalid input `errors: [{path, message}]`.
 * Handlers throw `ApiProblem`; app.ts renders it, and anything else, through `problemResponse`.
 */
export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');
export type Problem = z.infer<typeof ProblemSchema>;

export class ApiProblem extends Error {
  readonly status: number;
  readonly title: string;
  readonly slug: string | undefined;
  readonly extra: Partial<Problem> & Record<string, unknown>;
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    title: string,
    detail?: string,
    options: { slug?: string; extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(detail ?? title);
    this.status = status;
    this.title = title;
    this.slug = options.slug;
    this.extra = { ...(detail ? { detail } : {}), ...options.extra };
    this.headers = options.headers ?? {};
  }
}

export const notFound = (what: string) => new ApiProblem(404, 'Not Found', `${what} does not exist`);

export function problemResponse(c: Context, p: ApiProblem): Response {
  const body: Problem & Record<string, unknown> = {
    type: p.slug ? `urn:sluice:problem:${p.slug}` : 'about:blank',
    title: p.title,
    status: p.status,
    instance: c.req.path,
    ...p.extra,
  };
  return new Response(JSON.stringify(body), {
    status: p.status,
    headers: { 'content-type': 'application/problem+json', ...p.headers },
  });
}

/** Maps any thrown value to a problem: our classes by meaning, hono's HTTP errors by status, else 500. */
export function toProblem(err: unknown): ApiProblem {
  if (err instanceof ApiProblem) return err;
  if (err instanceof HTTPException) {
    const title = err.status === 400 ? 'Bad Request' : err.status === 413 ? 'Content Too Large' : 'Error';
    return new ApiProblem(err.status, title, err.message || undefined);
  }
  if (err instanceof ConfigError || err instanceof CriticalError)
    return new ApiProblem(422, 'Unprocessable Content', err.message, { slug: 'invalid-request' });
  if (err instanceof InfrastructureError)
    return new ApiProblem(503, 'Service Unavailable', err.message, { headers: { 'retry-after': '5' } });
  return new ApiProblem(500, 'Internal Server Error', 'the request failed on the server; see its log');
}

/** The problem for a failed zod validation: 400 with one entry per issue. */
export function validationProblem(error: z.ZodError, where: string): ApiProblem {
  return new ApiProblem(400, 'Bad Request', `invalid ${where}`, {
    slug: 'validation',
    extra: {
      errors: error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
    },
  });
}

/** Response entries for routes' `responses`: the problem schema under each listed status. */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      {
        description: 'problem details (RFC 9457)',
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
    ]),
  );
}
