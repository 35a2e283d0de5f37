import { afterEach, beforeEach, expect, it } from 'vitest';
import { emailPattern } from '../../src/providers/email-pattern/index.ts';
import { createOperationContext } from '../../src/providers/http.ts';
import { describeEachBackend, openTestDb, type TestDb } from '../helpers/backends.ts';

const op = emailPattern.operations['infer-email'];

describeEachBackend('email-pattern inferrer', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await openTestDb(backend);
  });
  afterEach(() => db.close());

  const infer = (input: unknown) =>
    op.run(createOperationContext(emailPattern, { env: {}, services: { db } }), op.input.parse(input));

  async function contact(first: string, last: string, email: string) {
    await db.query('INSERT INTO contacts (first_name, last_name, email) VALUES ($1, $2, $3)', [
      first,
      last,
      email,
    ]);
  }

  it('learns the domain’s pattern from stored contacts and proposes the address, for free', async () => {
    await contact('Stacy', 'Foster', 'sfoster@richmondcc.com');
    await contact('Mark', "O'Brien", 'mobrien@richmondcc.com');
    await contact('Anna', 'Lee', 'anna.lee@othergolf.com');
    const r = await infer({ domain: 'www.RichmondCC.com', first_name: 'José', last_name: 'Van Dyke' });
    expect(r).toMatchObject({ found: true, costUsd: 0 });
    if (!r.found) return;
    expect(r.output).toMatchObject({
      email: 'jvandyke@richmondcc.com',
      pattern: '{f}{last}',
      evidence: { matches: 2, total: 2 },
    });
    expect(r.confidence).toBeGreaterThan(0.4);
  });

  it('is more confident with more consistent evidence, less with mixed evidence', async () => {
    await contact('Ann', 'Bell', 'ann.bell@a-golf.com');
    const one = await infer({ domain: 'a-golf.com', first_name: 'Tom', last_name: 'Reed' });
    await contact('Bob', 'Cole', 'bob.cole@a-golf.com');
    await contact('Cy', 'Dunn', 'cy.dunn@a-golf.com');
    const three = await infer({ domain: 'a-golf.com', first_name: 'Tom', last_name: 'Reed' });
    await contact('Di', 'Egan', 'degan@a-golf.com');
    const mixed = await infer({ domain: 'a-golf.com', first_name: 'Tom', last_name: 'Reed' });
    const conf = (r: Awaited<ReturnType<typeof infer>>) => (r.found ? (r.confidence ?? 0) : 0);
    expect(conf(three)).toBeGreaterThan(conf(one));
    expect(conf(mixed)).toBeLessThan(conf(three));
    expect(mixed.found && mixed.output.candidates.map((c) => c.email)).toEqual([
      'tom.reed@a-golf.com',
      'treed@a-golf.com',
    ]);
  });

  it('uses emails passed in (e.g. from a staff page) and ignores the person’s own stored email', async () => {
    await contact('Tom', 'Reed', 'tom@b-golf.com');
    const r = await infer({
      domain: 'b-golf.com',
      first_name: 'Tom',
      last_name: 'Reed',
      known: [{ first_name: 'Kim', last_name: 'Wu', email: 'KIM_WU@b-golf.com' }],
    });
    expect(r.found && r.output.email).toBe('tom_reed@b-golf.com');
  });

  it('finds nothing (and charges nothing) without evidence at the domain', async () => {
    await contact('Ann', 'Bell', 'ann.bell@elsewhere.com');
    expect(await infer({ domain: 'nobody-known.com', first_name: 'Tom', last_name: 'Reed' })).toEqual({
      found: false,
      costUsd: 0,
    });
  });
});
