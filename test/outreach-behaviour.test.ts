import { describe, expect, it } from 'vitest';
import { companyIndex, reactTo } from '../src/sandbox/fakes/email/recipient-behaviour.ts';
import { generateWorld } from '../src/sandbox/world.ts';

/**
 * The sandbox's people answer from what they receive: reply rates differ by segment and by what the
 * message says (a greeting by name and the club's name beat "Hi there"), and an address the world
 * does not know bounces. Decided per (address, step), so the same message gets the same answer.
 */
describe('sandbox recipients', () => {
  const world = generateWorld(1);
  const companies = companyIndex(world);
  const people = world.people.filter((p) => companies.get(p.companyId)?.course);
  const rate = (segment: string, personal: boolean) => {
    const group = people.filter((p) => companies.get(p.companyId)!.course!.segment === segment);
    const replies = group.filter((p) => {
      const club = companies.get(p.companyId)!.name;
      const body = personal
        ? `Hi ${p.firstName}, the range at ${club} could use fresh balls.`
        : 'Hi there, we sell range balls.';
      return reactTo(world, companies, 7, { to: p.email, body, step: 0 }).kind === 'reply';
    });
    return replies.length / group.length;
  };

  it('reply rates depend on the segment and on the message, not on an answer key', () => {
    expect(people.length).toBeGreaterThan(300);
    expect(rate('high-end', true)).toBeGreaterThan(rate('budget', true));
    expect(rate('high-end', true)).toBeGreaterThan(rate('high-end', false));
    expect(rate('budget', true)).toBeGreaterThan(rate('budget', false));
  });

  it('an unknown address bounces; the same message always gets the same answer', () => {
    expect(reactTo(world, companies, 7, { to: 'nobody@nowhere.example', body: 'Hi', step: 0 }).kind).toBe(
      'bounce',
    );
    const p = people[0]!;
    const a = reactTo(world, companies, 7, { to: p.email, body: `Hi ${p.firstName}`, step: 1 });
    expect(reactTo(world, companies, 7, { to: p.email, body: `Hi ${p.firstName}`, step: 1 })).toEqual(a);
  });
});
