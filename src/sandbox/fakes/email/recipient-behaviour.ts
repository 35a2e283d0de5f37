import { unit } from '../../rng.ts';
import type { Company, Person, World } from '../../world.ts';

/**
 * How the sandbox world's people answer email: decided from the recipient (does the address exist,
 * which segment is their club) and from the message itself (does it greet them by name, name their
 * club, carry a conversation starter about it), never from an answer key. Rates differ by segment, so
 * reply rates by segment and by starter are measurable; every decision is seeded per (address, step).
 *
 * | segment | reply | auto-reply | unsubscribe | complaint |
 * | --- | --- | --- | --- | --- |
 * | high-end | 14 % | 4 % | 1.5 % | 0.2 % |
 * | both | 10 % | 4 % | 2 % | 0.3 % |
 * | budget | 7 % | 4 % | 3 % | 0.5 % |
 *
 * The reply rate is ×1.25 when the body greets the person by first name, ×1.25 when it names the
 * club, ×1.3 when it carries a starter that mentions the club's own facts (holes, range, fee), ×0.6 for
 * a generic greeting ("Hi there"), and falls with each later step (×0.7, ×0.5). An address the world
 * does not know bounces (hard), as does a person's address at a club whose mail server is unresponsive
 * with a 30 % chance.
 */
export interface Reaction {
  kind: 'delivered' | 'bounce' | 'reply' | 'auto_reply' | 'unsubscribe' | 'complaint';
  /** A reply's or auto-reply's text. */
  text?: string;
}

const RATES = {
  'high-end': { reply: 0.14, auto: 0.04, unsub: 0.015, complaint: 0.002 },
  both: { reply: 0.1, auto: 0.04, unsub: 0.02, complaint: 0.003 },
  budget: { reply: 0.07, auto: 0.04, unsub: 0.03, complaint: 0.005 },
} as const;

const REPLIES = {
  'high-end': [
    'Thanks for reaching out. We have been talking about leasing range balls for next season; can you send pricing for a lease?',
    'Timing is good: our range balls are due for replacement. What does a premium lease look like for us?',
  ],
  both: [
    'Interesting. Send me some numbers for both buying and leasing and I will take a look.',
    'We might be open to it. What brands do you carry?',
  ],
  budget: [
    'What is your best price on a bulk order of range balls?',
    'We keep costs tight here. Do you have anything cheaper than new balls?',
  ],
} as const;

export function companyIndex(world: World): Map<string, Company> {
  return new Map(world.companies.map((c) => [c.id, c]));
}

export function reactTo(
  world: World,
  companies: Map<string, Company>,
  seed: number,
  message: { to: string; body: string; step: number },
): Reaction {
  const to = message.to.toLowerCase();
  const person: Person | undefined = world.byEmail.get(to);
  const key = `${to}:${message.step}`;
  if (!person) return { kind: 'bounce' };
  const company = companies.get(person.companyId);
  if (company?.mailServer === 'unresponsive' && unit(seed, `mail:bounce:${to}`) < 0.3)
    return { kind: 'bounce' };
  const segment = company?.course?.segment ?? 'both';
  const r = RATES[segment];
  const body = message.body.toLowerCase();
  let reply: number = r.reply;
  if (body.includes(person.firstName.toLowerCase())) reply *= 1.25;
  else if (/\b(hi|hello|dear) there\b/.test(body)) reply *= 0.6;
  if (company && body.includes(company.name.toLowerCase())) reply *= 1.25;
  const facts = company?.course;
  if (
    facts &&
    /\b(range|holes?|green fee|driving)\b/.test(body) &&
    company &&
    body.includes(company.name.toLowerCase())
  )
    reply *= 1.3;
  reply *= [1, 0.7, 0.5][Math.min(2, message.step)]!;
  const u = unit(seed, `mail:react:${key}`);
  let edge = r.complaint;
  if (u < edge) return { kind: 'complaint' };
  edge += r.unsub;
  if (u < edge) return { kind: 'unsubscribe' };
  edge += message.step === 0 ? r.auto : 0;
  if (u < edge)
    return {
      kind: 'auto_reply',
      text: `I am out of the office until next week with limited access to email. For urgent matters call the pro shop.\n\n${person.fullName}`,
    };
  edge += reply;
  if (u < edge) {
    const texts = REPLIES[segment];
    return {
      kind: 'reply',
      text: `${texts[Math.floor(unit(seed, `mail:text:${key}`) * texts.length)]}\n\n${person.firstName}`,
    };
  }
  return { kind: 'delivered' };
}
