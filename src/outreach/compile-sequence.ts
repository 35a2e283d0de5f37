import { type Expr, parseExpression } from '../pipelines/expression.ts';
import { at, SpecError, SpecErrors } from '../pipelines/spec-error.ts';
import { parseTemplate, type Template } from '../pipelines/template.ts';
import { type SequenceSpec, WEEKDAYS } from './sequence-schema.ts';

/** A validated sequence with its expressions and templates parsed. */
export interface CompiledStep {
  delayDays: number;
  subject: Template;
  body: Template;
}

export interface CompiledTrack {
  name: string;
  sender: { email: string; name: string; dailyCap: number };
  steps: CompiledStep[];
}

export interface SequenceDefinition {
  spec: SequenceSpec;
  name: string;
  channel: 'sendgrid' | 'instantly';
  audience: Expr | undefined;
  trackBy: Expr;
  tracks: Map<string, CompiledTrack>;
  window: { from: number; to: number; days: number[]; defaultTimezone: string };
  starter: { field: Expr; minScore: number };
  unsubscribeUrl: Template;
}

/** What a template may read. */
export const TEMPLATE_ROOTS = ['contact', 'account', 'starter', 'sender', 'unsubscribe_url'] as const;
const RECORD_ROOTS = ['contact', 'account'] as const;

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

export function compileSequence(spec: SequenceSpec): SequenceDefinition {
  const errors: SpecError[] = [];
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof SpecError) errors.push(err);
      else throw err;
      return undefined;
    }
  };
  const audience = spec.audience
    ? attempt(() => at(['audience'], spec.audience!, () => parseExpression(spec.audience!, RECORD_ROOTS)))
    : undefined;
  const trackBy = attempt(() =>
    at(['track_by'], spec.track_by, () => parseExpression(spec.track_by, RECORD_ROOTS)),
  );
  const starterField = attempt(() =>
    at(['starter', 'field'], spec.starter.field, () => parseExpression(spec.starter.field, RECORD_ROOTS)),
  );
  const unsubscribeUrl = attempt(() =>
    at(['compliance', 'unsubscribe_url'], spec.compliance.unsubscribe_url, () =>
      parseTemplate(spec.compliance.unsubscribe_url, ['contact', 'account', 'unsubscribe_token']),
    ),
  );
  const senders = new Map(spec.senders.map((s) => [s.email.toLowerCase(), s]));
  if (senders.size !== spec.senders.length)
    errors.push(new SpecError(['senders'], 'a sender is listed twice'));
  const tracks = new Map<string, CompiledTrack>();
  if (Object.keys(spec.tracks).length === 0)
    errors.push(new SpecError(['tracks'], 'at least one track is needed'));
  for (const [name, t] of Object.entries(spec.tracks)) {
    const sender = senders.get(t.sender.toLowerCase());
    if (!sender)
      errors.push(
        new SpecError(
          ['tracks', name, 'sender'],
          `"${t.sender}" is not in senders (${[...senders.keys()].join(', ')})`,
        ),
      );
    if (t.steps[0] && t.steps[0].delay_days !== 0 && spec.channel === 'instantly')
      errors.push(
        new SpecError(['tracks', name, 'steps', 0, 'delay_days'], 'the first Instantly step has delay 0'),
      );
    const steps = t.steps.map((s, i) => ({
      delayDays: s.delay_days,
      subject: attempt(() =>
        at(['tracks', name, 'steps', i, 'subject'], s.subject, () =>
          parseTemplate(s.subject, TEMPLATE_ROOTS),
        ),
      ),
      body: attempt(() =>
        at(['tracks', name, 'steps', i, 'body'], s.body, () => parseTemplate(s.body, TEMPLATE_ROOTS)),
      ),
    }));
    tracks.set(name, {
      name,
      sender: {
        email: t.sender.toLowerCase(),
        name: sender?.name ?? t.sender,
        dailyCap: sender?.daily_cap ?? 0,
      },
      steps: steps as CompiledStep[],
    });
  }
  const from = minutes(spec.window.from);
  const to = minutes(spec.window.to);
  if (to <= from)
    errors.push(
      new SpecError(
        ['window', 'to'],
        `the window ends (${spec.window.to}) before it starts (${spec.window.from})`,
      ),
    );
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: spec.window.default_timezone });
  } catch {
    errors.push(
      new SpecError(['window', 'default_timezone'], `unknown time zone "${spec.window.default_timezone}"`),
    );
  }
  if (errors.length > 0) throw new SpecErrors(errors);
  return {
    spec,
    name: spec.name,
    channel: spec.channel,
    audience,
    trackBy: trackBy!,
    tracks,
    window: {
      from,
      to,
      days: spec.window.days.map((d) => WEEKDAYS.indexOf(d)),
      defaultTimezone: spec.window.default_timezone,
    },
    starter: { field: starterField!, minScore: spec.starter.min_score },
    unsubscribeUrl: unsubscribeUrl!,
  };
}
