import type { Context } from 'hono';
import type { JsonSchema } from '../reader/fill-schema.ts';
import type { FakeKit } from './fake-kit.ts';

/**
 * What the language-model fakes (OpenAI-, Anthropic- and Perplexity-compatible) share: the text of a
 * chat's messages in either vendor's shape, token estimates (~4 characters a token) and the
 * requests-per-minute window each fake enforces.
 */
type Part = { type?: string; text?: string };
export interface ChatMessage {
  role?: string;
  content?: string | Part[] | null;
}

export function textOf(content: ChatMessage['content'] | Part[] | string | undefined): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('\n');
  return '';
}

/** System text and user text of a message list (assistant turns are ignored: one-shot prompts). */
export function promptOf(
  messages: readonly ChatMessage[],
  system?: unknown,
): { system: string; prompt: string } {
  const sys = [
    textOf(system as ChatMessage['content']),
    ...messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => textOf(m.content)),
  ].filter(Boolean);
  const user = messages.filter((m) => m.role === 'user').map((m) => textOf(m.content));
  return { system: sys.join('\n'), prompt: user.join('\n') };
}

export const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

export function asSchema(value: unknown): JsonSchema | undefined {
  return value && typeof value === 'object' ? (value as JsonSchema) : undefined;
}

/**
 * The fake's own limit: `perMinute` requests in a fixed window. Returns the seconds to wait when the
 * window is spent (the Retry-After the fake sends), else undefined.
 */
export function spentWindow(kit: FakeKit, perMinute: number): number | undefined {
  const t = kit.take('rpm', perMinute, 60_000);
  if (kit.control.mode === 'throttle') return 3;
  return t.allowed ? undefined : Math.max(1, Math.ceil(t.resetMs / 1000));
}

export async function jsonBody<T>(c: Context): Promise<T | null> {
  return (await c.req.json().catch(() => null)) as T | null;
}
