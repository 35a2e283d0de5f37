import { createRng, unit } from './rng.ts';
import { applyPattern, type Company, type Person, slugify, type World } from './world.ts';
import { FIRST_NAMES, LAST_NAMES } from './world-data.ts';

/** Share of golf-course staff who change jobs in a simulated month (docs/sandbox.md). */
export const JOB_CHANGE_RATE = 0.08;

export interface JobChange {
  month: number;
  /** The person who left (now at `to`). */
  person: Person;
  from: Company;
  to: Company;
  /** Who took over the role at `from`. */
  replacement: Person;
}

/**
 * Moves the world on by one month (`world.month`, 0 at generation): each golf-course staff member
 * leaves with probability JOB_CHANGE_RATE (decided by hash of seed, month and person, so the same
 * seed always changes the same people), takes a job at another course (a new mailbox there, the old
 * one deleted, the old club at the front of their previous clubs, not yet on the new club's staff
 * page) and is replaced by a new person with the same title, listed on the staff page, with an
 * address in the domain's pattern. The fakes answer from the world as they always do, so a change
 * is visible only through what a request asks: the old address no longer verifies, Apollo matches the
 * person at their new club, the staff page lists the replacement.
 */
export function advanceMonth(world: World): JobChange[] {
  const month = (world.month ?? 0) + 1;
  world.month = month;
  const changes: JobChange[] = [];
  const courses = world.courses;
  // Decided for everyone first: someone who just moved does not leave their new club the same month.
  const decided = courses.map(
    (from) =>
      [
        from,
        from.people.filter((p) => unit(world.seed, `leave:${month}:${p.id}`) < JOB_CHANGE_RATE),
      ] as const,
  );
  for (const [from, leaving] of decided) {
    for (const [i, person] of leaving.entries()) {
      const rng = createRng(world.seed, `month:${month}:${person.id}`);
      let to = rng.pick(courses);
      for (let tries = 0; to.id === from.id && tries < 10; tries++) to = rng.pick(courses);
      if (to.id === from.id) continue;
      from.people.splice(from.people.indexOf(person), 1);
      world.byEmail.delete(person.email);
      person.previousClubs = [from.name, ...person.previousClubs.filter((c) => c !== from.name)];
      person.movedFrom = from.id;
      person.companyId = to.id;
      person.startYear = world.year;
      person.tenureYears = 0;
      person.onStaffPage = false;
      person.emailOnSite = false;
      person.email = uniqueEmail(
        world,
        applyPattern(to.emailPattern, person.firstName, person.lastName, to.domain),
      );
      person.emailKind = 'pattern';
      to.people.push(person);
      world.byEmail.set(person.email, person);

      let first: string = rng.pick(FIRST_NAMES);
      let last: string = rng.pick(LAST_NAMES);
      for (let tries = 0; from.people.some((p) => p.lastName === last) && tries < 10; tries++) {
        first = rng.pick(FIRST_NAMES);
        last = rng.pick(LAST_NAMES);
      }
      const replacement: Person = {
        id: `${from.id}-m${month}-${i}`,
        companyId: from.id,
        firstName: first,
        lastName: last,
        fullName: `${first} ${last}`,
        title: person.title,
        email: uniqueEmail(world, applyPattern(from.emailPattern, first, last, from.domain)),
        phone: null,
        linkedinUrl: rng.chance(0.85)
          ? `https://www.linkedin.com/in/${slugify(first)}-${slugify(last)}-${rng.int(0x1000, 0xffff).toString(16)}`
          : null,
        startYear: world.year,
        tenureYears: 0,
        previousClubs: [],
        onStaffPage: true,
        emailOnSite: from.showsEmails && rng.chance(0.65),
        emailKind: 'pattern',
      };
      from.people.push(replacement);
      world.people.push(replacement);
      world.byEmail.set(replacement.email, replacement);
      changes.push({ month, person, from, to, replacement });
    }
  }
  return changes;
}

function uniqueEmail(world: World, email: string): string {
  if (!world.byEmail.has(email)) return email;
  for (let n = 2; ; n++) {
    const e = email.replace('@', `${n}@`);
    if (!world.byEmail.has(e)) return e;
  }
}
