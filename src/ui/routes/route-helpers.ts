import type { Context } from 'hono';
import { UiError } from '../ui-auth.ts';

/** A positive integer path or query parameter, or a 400 naming it. */
export function positiveInt(raw: string | undefined, name: string): number {
  const n = Number(raw);
  if (!raw || !Number.isSafeInteger(n) || n <= 0)
    throw new UiError(400, `${name} must be a positive whole number, got "${raw ?? ''}"`);
  return n;
}

export function optionalInt(raw: string | undefined, name: string): number | undefined {
  return raw === undefined || raw === '' ? undefined : positiveInt(raw, name);
}

/** Back to `path` after an action, with a one-line result (post/redirect/get: reload does not repeat it). */
export function doneRedirect(c: Context, path: string, message: string, error = false) {
  const sep = path.includes('?') ? '&' : '?';
  return c.redirect(`${path}${sep}${error ? 'alert' : 'notice'}=${encodeURIComponent(message)}`, 303);
}

/** A form field as a string ('' when absent or a file). */
export async function formField(c: Context, name: string): Promise<string> {
  const body = await c.req.parseBody({ all: true });
  const v = body[name];
  return typeof v === 'string' ? v.trim() : '';
}

export async function formFields(c: Context, name: string): Promise<string[]> {
  const body = await c.req.parseBody({ all: true });
  const v = body[name];
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return list.filter((x): x is string => typeof x === 'string');
}
