import type { OutreachServices } from './outreach-services.ts';
import { loadScopes, stoppedContacts, suppressedEmails } from './outreach-store.ts';
import { inAudience, type RenderedMessage, renderMessage, trackFor } from './render-message.ts';

/**
 * `sluice outreach preview`: every message of the sequence for a sample of contacts, rendered exactly
 * as it would be sent (footer and headers included), and why the others would be skipped. Sends nothing.
 */
export interface PreviewContact {
  contactId: number;
  email: string | null;
  track: string | null;
  messages: RenderedMessage[];
  skipped?: string;
}

export async function previewSequence(
  services: OutreachServices,
  sequence: string,
  contactIds: number[],
): Promise<{ sequence: string; channel: string; contacts: PreviewContact[] }> {
  const def = await services.loadSequence(sequence);
  const secret = await services.secret();
  const scopes = await loadScopes(services.db, contactIds);
  const emails = [...scopes.values()]
    .map((s) => String(s.contact?.email ?? '').toLowerCase())
    .filter(Boolean);
  const suppressed = await suppressedEmails(services.db, emails);
  const stopped = await stoppedContacts(services.db, contactIds);
  const out: PreviewContact[] = [];
  for (const id of contactIds) {
    const scope = scopes.get(id);
    if (!scope) continue;
    const email = typeof scope.contact?.email === 'string' ? scope.contact.email.toLowerCase() : null;
    const track = trackFor(def, scope)?.name ?? null;
    const base = { contactId: id, email, track, messages: [] as RenderedMessage[] };
    const why = !email
      ? 'no email'
      : suppressed.has(email)
        ? 'suppressed'
        : stopped.has(id)
          ? `outreach stopped (${stopped.get(id)})`
          : !inAudience(def, scope)
            ? 'not in the audience'
            : !track
              ? 'no track'
              : undefined;
    if (why) {
      out.push({ ...base, skipped: why });
      continue;
    }
    const steps = def.tracks.get(track!)!.steps.length;
    for (let i = 0; i < steps; i++) {
      const m = renderMessage(def, scope, i, { secret, track: track! });
      if (m) base.messages.push(m);
    }
    const missing = base.messages.find((m) => m.missing.length > 0);
    out.push(
      missing
        ? {
            ...base,
            skipped: `step ${missing.step + 1}: an empty field without a fallback in the ${missing.missing.join(' and ')}`,
          }
        : base,
    );
  }
  return { sequence: def.name, channel: def.channel, contacts: out };
}
