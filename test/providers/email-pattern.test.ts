import { afterEach, beforeEach, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway/create-gateway.ts';
import { recordValueOutcome } from '../../src/learning/value-outcomes.ts';
import { emailPattern } from '../../src/providers/email-pattern/index.ts';
import { createOperationContext } from '../../src/providers/http.ts';
import { type FieldObservation, type FieldSource, writeFieldValues } from '../../src/records/field-values.ts';
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

  /** A stored contact whose email came from `source` (an import by default: vouched-for evidence). */
  async function contact(
    first: string,
    last: string,
    email: string,
    source: FieldSource = 'import',
    extra: Partial<FieldObservation> = {},
  ): Promise<number> {
    const r = await db.query<{ id: number }>(
      'INSERT INTO contacts (first_name, last_name) VALUES ($1, $2) RETURNING id::int AS id',
      [first, last],
    );
    const id = r.rows[0]!.id;
    await writeFieldValues(db, [
      { entityType: 'contact', entityId: id, field: 'email', value: email, source, ...extra },
    ]);
    return id;
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

  it('counts only imported and verified emails: never its own guesses or a run’s unverified finds', async () => {
    // Two guesses stored by an earlier run ({first}.{last}), one import ({f}{last}).
    await contact('Ann', 'Bell', 'ann.bell@c-golf.com', 'provider', {
      provider: 'email-pattern',
      operation: 'infer-email',
    });
    await contact('Bob', 'Cole', 'bob.cole@c-golf.com', 'provider', {
      provider: 'hunter',
      operation: 'email-finder',
    });
    await contact('Cy', 'Dunn', 'cdunn@c-golf.com');
    let r = await infer({ domain: 'c-golf.com', first_name: 'Tom', last_name: 'Reed' });
    expect(r.found && r.output).toMatchObject({
      email: 'treed@c-golf.com',
      evidence: { matches: 1, total: 1 },
    });
    // A checker's `verified` verdict makes a found email evidence; a later `bounced` one takes it back.
    const di = await contact('Di', 'Egan', 'degan@c-golf.com', 'provider', {
      provider: 'hunter',
      operation: 'email-finder',
    });
    await recordValueOutcome(db, {
      entityType: 'contact',
      entityId: di,
      field: 'email',
      value: 'degan@c-golf.com',
      outcome: 'verified',
      source: 'verifier',
    });
    r = await infer({ domain: 'c-golf.com', first_name: 'Tom', last_name: 'Reed' });
    expect(r.found && r.output.evidence).toEqual({ matches: 2, total: 2 });
    await recordValueOutcome(db, {
      entityType: 'contact',
      entityId: di,
      field: 'email',
      value: 'degan@c-golf.com',
      outcome: 'bounced',
      source: 'outreach',
    });
    r = await infer({ domain: 'c-golf.com', first_name: 'Tom', last_name: 'Reed' });
    expect(r.found && r.output.evidence).toEqual({ matches: 1, total: 1 });
  });

  it('is not cached: through the gateway, an answer follows the evidence stored when it is asked', async () => {
    const gateway = createGateway({
      db,
      providers: (id) => (id === 'email-pattern' ? emailPattern : undefined),
      services: { db },
    });
    const ask = () =>
      gateway.call({
        provider: 'email-pattern',
        operation: 'infer-email',
        input: { domain: 'd-golf.com', first_name: 'Tom', last_name: 'Reed' },
      });
    await contact('Ann', 'Bell', 'abell@d-golf.com');
    expect(await ask()).toMatchObject({ found: true, cached: false, output: { email: 'treed@d-golf.com' } });
    await contact('Bob', 'Cole', 'bob.cole@d-golf.com');
    await contact('Cy', 'Dunn', 'cy.dunn@d-golf.com');
    expect(await ask()).toMatchObject({
      found: true,
      cached: false,
      output: { email: 'tom.reed@d-golf.com' },
    });
    const stored = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM cache_entries WHERE provider = 'email-pattern'`,
    );
    expect(stored.rows[0]!.n).toBe(0);
  });

  it('looks the domain up through an index, not a scan of every contact', async () => {
    const plan = await db.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      const r = await tx.query<Record<string, string>>(
        `EXPLAIN SELECT id FROM contacts WHERE email IS NOT NULL AND lower(split_part(email, '@', 2)) = 'a.com'`,
      );
      return r.rows.map((row) => Object.values(row)[0]).join('\n');
    });
    expect(plan).toContain('contacts_email_domain_idx');
  });
});
