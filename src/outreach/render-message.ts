import { evaluate, truthy } from '../pipelines/expression.ts';
import { renderTemplate } from '../pipelines/template.ts';
import type { RecordValues } from '../records/read-records.ts';
import type { CompiledTrack, SequenceDefinition } from './compile-sequence.ts';
import { unsubscribeToken } from './unsubscribe-token.ts';

/**
 * One message of a sequence for one contact: the track its `track_by` picks, the step's subject and
 * body rendered with `{{contact.*}}`, `{{account.*}}`, `{{starter}}` (the best-scored conversation
 * starter) and `{{sender.*}}`, then the compliance footer (the sender's postal address and an
 * unsubscribe link) and the List-Unsubscribe headers. A template with an empty field and no fallback
 * (`coalesce(contact.first_name, 'there')`) is not sent: `missing` says so.
 */
export interface Scope {
  contact: RecordValues | null;
  account: RecordValues | null;
}

export interface RenderedMessage {
  track: string;
  step: number;
  sender: { email: string; name: string };
  subject: string;
  body: string;
  starter: string | null;
  headers: Record<string, string>;
  unsubscribeUrl: string;
  /** Parts with an empty field and no fallback; the message is not sent while any is listed. */
  missing: string[];
}

export function inAudience(def: SequenceDefinition, scope: Scope): boolean {
  if (!scope.contact) return false;
  return def.audience ? truthy(evaluate(def.audience, scope as unknown as Record<string, unknown>)) : true;
}

export function trackFor(def: SequenceDefinition, scope: Scope): CompiledTrack | undefined {
  const v = evaluate(def.trackBy, scope as unknown as Record<string, unknown>);
  return (v !== null && v !== undefined ? def.tracks.get(String(v)) : undefined) ?? def.tracks.get('default');
}

/** The best-scored starter at least `min_score` good, or null. */
export function bestStarter(def: SequenceDefinition, scope: Scope): string | null {
  const v = evaluate(def.starter.field, scope as unknown as Record<string, unknown>);
  if (!Array.isArray(v)) return typeof v === 'string' && v.trim() ? v.trim() : null;
  let best: { text: string; score: number } | undefined;
  for (const s of v as unknown[]) {
    if (!s || typeof s !== 'object') continue;
    const text = (s as { text?: unknown }).text;
    const score = Number((s as { score?: unknown }).score);
    if (typeof text !== 'string' || !text.trim() || !Number.isFinite(score)) continue;
    if (score < def.starter.minScore) continue;
    if (!best || score > best.score) best = { text: text.trim(), score };
  }
  return best?.text ?? null;
}

export function renderMessage(
  def: SequenceDefinition,
  scope: Scope,
  step: number,
  /** `secret`: the outreach secret (outreach-secret.ts) that signs the unsubscribe token. */
  options: { secret: string; track?: string },
): RenderedMessage | undefined {
  const track = options.track ? def.tracks.get(options.track) : trackFor(def, scope);
  const s = track?.steps[step];
  if (!track || !s || !scope.contact) return undefined;
  const starter = bestStarter(def, scope);
  const token = unsubscribeToken({ contactId: Number(scope.contact.id), sequence: def.name }, options.secret);
  const unsubscribeUrl = String(
    renderTemplate(def.unsubscribeUrl, { ...scope, unsubscribe_token: token }).value ?? '',
  );
  const vars = {
    ...scope,
    starter,
    sender: { email: track.sender.email, name: track.sender.name },
    unsubscribe_url: unsubscribeUrl,
  };
  const subject = renderTemplate(s.subject, vars);
  const body = renderTemplate(s.body, vars);
  const missing = [...(subject.missing ? ['subject'] : []), ...(body.missing ? ['body'] : [])];
  const footer = [
    '',
    '--',
    track.sender.name,
    def.spec.compliance.postal_address,
    `Unsubscribe: ${unsubscribeUrl}`,
  ].join('\n');
  const mailto = def.spec.compliance.unsubscribe_mailto;
  return {
    track: track.name,
    step,
    sender: { email: track.sender.email, name: track.sender.name },
    subject: String(subject.value ?? '').trim(),
    body: `${String(body.value ?? '').trimEnd()}\n${footer}`,
    starter,
    headers: {
      'List-Unsubscribe': `<${unsubscribeUrl}>${mailto ? `, <mailto:${mailto}?subject=unsubscribe>` : ''}`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
    unsubscribeUrl,
    missing,
  };
}
