import type { Db } from '../db/db.ts';
import { createBatch, settleBatch } from '../engine/batch.ts';
import type { RunEngine } from '../engine/run-executor.ts';
import { startWorker } from '../engine/worker-loop.ts';
import { completePersonName, personNameKey } from '../normalize/person-name.ts';
import { type FieldObservation, writeFieldValues } from '../records/field-values.ts';
import { builtinSyncs, loadSync } from '../sync/load-sync.ts';
import { runSync } from '../sync/run-sync.ts';
import { type ContactCheck, checkContact, type StaleContact } from './check-contact.ts';

export interface FreshnessOptions {
  db: Db;
  /** Gateway, queue and pipelines: calls go through the gateway; replacements are enriched as a batch. */
  engine: RunEngine;
  env: Readonly<Record<string, string | undefined>>;
  /** Contacts whose last verification is older than this are re-checked. Default 30. */
  days?: number;
  /** At most this many contacts per pass (oldest first). Default: all stale ones. */
  limit?: number;
  /** Pipeline that enriches replacements. Default: the one that last enriched the account, else golf-courses. */
  pipeline?: string;
  /** Syncs to update (archive the old record, create the new). Default: the built-in syncs in use. */
  syncs?: string[];
  /** "Now" (the demo's "one month later" passes a date a month ahead). Default: the clock. */
  now?: Date;
  /** Contacts checked at once. Default 4. */
  concurrency?: number;
  onStatus?(line: string): void;
}

export interface FreshnessReport {
  passId: number;
  days: number;
  selected: number;
  verified: number;
  changed: number;
  bounced: number;
  unknown: number;
  failed: number;
  /** Departed contacts whose replacement was found (a new contact with their title). */
  replaced: number;
  /** New contacts created from the staff pages (replacements and anyone else newly listed). */
  newContacts: number;
  costUsd: number;
  batchId: number | null;
  synced: { sync: string; created: number; archived: number; updated: number; errors: number }[];
}

interface Row {
  id: string | number;
  account_id: string | number | null;
  first_name: string | null;
  last_name: string | null;
  full_name: string | null;
  title: string | null;
  email: string | null;
  account_name: string | null;
  domain: string | null;
  website: string | null;
}

/**
 * Active contacts not verified for `days`: their verification time is `last_verified_at`, or for a
 * contact never re-verified the time its email was last observed, or its creation.
 */
export async function selectStale(db: Db, days: number, now: Date, limit?: number): Promise<StaleContact[]> {
  const r = await db.query<Row>(
    `SELECT c.id, c.account_id, c.first_name, c.last_name, c.full_name, c.title, c.email,
            a.name AS account_name, a.domain, a.website
       FROM contacts c LEFT JOIN accounts a ON a.id = c.account_id
      WHERE c.status = 'active'
        AND coalesce(c.last_verified_at,
              (SELECT max(observed_at) FROM field_values f
                WHERE f.entity_type = 'contact' AND f.entity_id = c.id AND f.field = 'email'),
              c.created_at) < $1::timestamptz - make_interval(days => $2)
      ORDER BY c.last_verified_at NULLS FIRST, c.id
      LIMIT $3`,
    [now.toISOString(), days, limit ?? null],
  );
  return r.rows.map((x) => ({
    id: Number(x.id),
    accountId: x.account_id === null ? null : Number(x.account_id),
    firstName: x.first_name,
    lastName: x.last_name,
    fullName: x.full_name,
    title: x.title,
    email: x.email,
    accountName: x.account_name,
    domain: x.domain,
    website: x.website,
  }));
}

/** The observations a check writes onto the contact: never its identity, only its state and evidence. */
function observations(c: StaleContact, check: ContactCheck, now: Date): FieldObservation[] {
  const by = check.decidedBy;
  const base = {
    entityType: 'contact' as const,
    entityId: c.id,
    source: 'provider' as const,
    observedAt: now,
    ...(by ? { provider: by.provider, operation: by.operation } : {}),
  };
  const out: FieldObservation[] = [];
  if (check.emailStatus)
    out.push({
      ...base,
      field: 'email_status',
      value: check.emailStatus,
      provider: 'hunter',
      operation: 'email-verifier',
    });
  if (check.outcome === 'unknown') return out;
  out.push({ ...base, field: 'last_verified_at', value: now.toISOString(), costUsd: check.costUsd });
  if (check.outcome === 'changed' || check.outcome === 'bounced') {
    const e = check.evidence.employment;
    out.push({ ...base, field: 'status', value: 'inactive' });
    out.push({
      ...base,
      field: 'inactive_reason',
      value:
        check.outcome === 'changed'
          ? `job change: now ${e?.title ? `${e.title} at ` : 'at '}${e?.organization ?? 'another organization'} (apollo people-match)`
          : `email bounced: ${c.email} is ${check.emailStatus} (hunter email-verifier)`,
    });
    if (check.outcome === 'changed' && e?.organization)
      out.push({ ...base, field: 'left_for', value: e.organization });
  }
  return out;
}

interface StaffEntry {
  name: string;
  title: string;
  email: string | null;
  phone: string | null;
}

/**
 * The replacement for contacts who left an account: the account's staff page read again (the
 * staff-discovery source of the pipelines, `website scrape-site`, with `refresh`), and every listed
 * person who is not a contact of the account yet becomes a new contact (values with provenance:
 * provider website). The one with the departed contact's title is the replacement (`replaces`).
 * The departed contact is never rewritten into the new person.
 */
async function findReplacements(
  o: FreshnessOptions,
  accountId: number,
  website: string,
  departed: StaleContact[],
  now: Date,
): Promise<{ created: number[]; costUsd: number }> {
  const page = await o.engine.gateway.call({
    provider: 'website',
    operation: 'scrape-site',
    input: { url: website },
    refresh: true,
  });
  if (!page.found) return { created: [], costUsd: page.costUsd };
  const staff = ((page.output as { staff?: StaffEntry[] }).staff ?? []).filter((s) => s.name);
  const existing = await o.db.query<{ name_key: string | null; email: string | null }>(
    'SELECT name_key, email FROM contacts WHERE account_id = $1',
    [accountId],
  );
  const keys = new Set(existing.rows.map((r) => r.name_key).filter(Boolean));
  const emails = new Set(existing.rows.map((r) => r.email).filter(Boolean));
  const created: number[] = [];
  for (const s of staff) {
    const name = completePersonName({ fullName: s.name });
    const key = personNameKey(name);
    const email = s.email?.trim().toLowerCase() || null;
    if (!key || keys.has(key) || (email && emails.has(email))) continue;
    keys.add(key);
    const replaces = departed.find(
      (d) => d.title && s.title && d.title.toLowerCase() === s.title.toLowerCase(),
    );
    const id = await o.db.transaction(async (tx) => {
      const r = await tx.query<{ id: string }>(
        `INSERT INTO contacts (account_id, email, name_key) VALUES ($1, $2, $3)
         ON CONFLICT (email) WHERE email IS NOT NULL DO NOTHING RETURNING id`,
        [accountId, email, key],
      );
      const newId = r.rows[0] ? Number(r.rows[0].id) : undefined;
      if (newId === undefined) return undefined;
      const base = {
        entityType: 'contact' as const,
        entityId: newId,
        source: 'provider' as const,
        provider: 'website',
        operation: 'scrape-site',
        observedAt: now,
      };
      await writeFieldValues(tx, [
        { ...base, field: 'full_name', value: name.fullName },
        { ...base, field: 'first_name', value: name.firstName },
        { ...base, field: 'last_name', value: name.lastName },
        { ...base, field: 'title', value: s.title || undefined },
        ...(email ? [{ ...base, field: 'email_published', value: email }] : []),
        ...(s.phone ? [{ ...base, field: 'phone', value: s.phone }] : []),
        ...(replaces ? [{ ...base, field: 'replaces', value: replaces.id }] : []),
      ]);
      return newId;
    });
    if (id !== undefined) created.push(id);
  }
  return { created, costUsd: page.costUsd };
}

/** The pipeline that last enriched these accounts (most runs), else golf-courses. */
async function pipelineFor(db: Db, accountIds: number[]): Promise<string> {
  const r = await db.query<{ pipeline: string }>(
    `SELECT pipeline FROM runs WHERE account_id = ANY($1::bigint[]) AND state IN ('enriched', 'partial')
      GROUP BY pipeline ORDER BY count(*) DESC LIMIT 1`,
    [accountIds],
  );
  return r.rows[0]?.pipeline ?? 'golf-courses';
}

async function mapLimit<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/**
 * One freshness pass (docs/freshness.md): stale contacts re-checked (checkContact), each decision
 * written with its evidence (field values with provenance; a `freshness_checks` row), replacements
 * found at the accounts people left and enriched by the account's pipeline (a batch, worked here
 * and by any other worker), then the syncs told: the departed contact's record archived, the new
 * one created. A failed check is recorded as `failed` and leaves the contact as it was.
 */
export async function runFreshness(o: FreshnessOptions): Promise<FreshnessReport> {
  const { db } = o;
  const now = o.now ?? new Date();
  const days = o.days ?? 30;
  const status = o.onStatus ?? (() => {});
  const t0 = Date.now();
  const pass = await db.query<{ id: string }>(
    'INSERT INTO freshness_passes (days, started_at) VALUES ($1, $2) RETURNING id',
    [days, now.toISOString()],
  );
  const passId = Number(pass.rows[0]!.id);
  const report: FreshnessReport = {
    passId,
    days,
    selected: 0,
    verified: 0,
    changed: 0,
    bounced: 0,
    unknown: 0,
    failed: 0,
    replaced: 0,
    newContacts: 0,
    costUsd: 0,
    batchId: null,
    synced: [],
  };
  try {
    const stale = await selectStale(db, days, now, o.limit);
    report.selected = stale.length;
    await db.query('UPDATE freshness_passes SET selected = $2 WHERE id = $1', [passId, stale.length]);
    status(`freshness pass ${passId}: ${stale.length} contacts not verified for ${days} days`);
    const departed = new Map<number, StaleContact[]>();
    await mapLimit(stale, o.concurrency ?? 4, async (c) => {
      let check: ContactCheck;
      try {
        check = await checkContact(o.engine.gateway, c);
      } catch (err) {
        report.failed++;
        await db.query(
          `INSERT INTO freshness_checks (pass_id, contact_id, account_id, outcome, evidence, checked_at)
           VALUES ($1, $2, $3, 'failed', $4, $5) ON CONFLICT DO NOTHING`,
          [passId, c.id, c.accountId, JSON.stringify({ error: (err as Error).message }), now.toISOString()],
        );
        return;
      }
      report[check.outcome]++;
      report.costUsd += check.costUsd;
      await db.transaction(async (tx) => {
        await writeFieldValues(tx, observations(c, check, now));
        await tx.query(
          `INSERT INTO freshness_checks (pass_id, contact_id, account_id, outcome, email_status, evidence, cost_usd, checked_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
          [
            passId,
            c.id,
            c.accountId,
            check.outcome,
            check.emailStatus,
            JSON.stringify(check.evidence),
            check.costUsd,
            now.toISOString(),
          ],
        );
      });
      if ((check.outcome === 'changed' || check.outcome === 'bounced') && c.accountId !== null) {
        const list = departed.get(c.accountId) ?? [];
        list.push(c);
        departed.set(c.accountId, list);
      }
    });
    status(
      `freshness pass ${passId}: ${report.verified} verified, ${report.changed} changed jobs, ${report.bounced} bounced, ${report.unknown} unknown, ${report.failed} failed`,
    );

    // Replacements at the accounts people left.
    const newContacts: number[] = [];
    for (const [accountId, gone] of departed) {
      const website = gone[0]?.website;
      if (!website) continue;
      try {
        const r = await findReplacements(o, accountId, website, gone, now);
        report.costUsd += r.costUsd;
        newContacts.push(...r.created);
        if (r.created.length > 0) {
          const ids = r.created;
          await db.query(
            `UPDATE freshness_checks k SET replacement_contact_id = c.id
               FROM contacts c
              WHERE k.pass_id = $1 AND c.id = ANY($2::bigint[]) AND (c.attributes->>'replaces')::bigint = k.contact_id`,
            [passId, ids],
          );
        }
      } catch (err) {
        status(`freshness: staff page of account ${accountId}: ${(err as Error).message}`);
      }
    }
    report.newContacts = newContacts.length;
    report.replaced = Number(
      (
        await db.query<{ n: number }>(
          'SELECT count(replacement_contact_id)::int AS n FROM freshness_checks WHERE pass_id = $1',
          [passId],
        )
      ).rows[0]?.n ?? 0,
    );

    // Enrich the new people the way their account was enriched.
    const accounts = [...departed.keys()].filter((id) => departed.get(id)?.[0]?.website);
    if (newContacts.length > 0) {
      const pipeline = o.pipeline ?? (await pipelineFor(db, accounts));
      const accountsWithNew = (
        await db.query<{ account_id: string }>(
          'SELECT DISTINCT account_id FROM contacts WHERE id = ANY($1::bigint[])',
          [newContacts],
        )
      ).rows.map((r) => Number(r.account_id));
      const batch = await createBatch(db, o.engine.queue, { pipeline, selection: { ids: accountsWithNew } });
      report.batchId = batch.id;
      status(
        `freshness: ${newContacts.length} new contacts at ${batch.total} accounts, enriched by "${pipeline}" (batch ${batch.id})`,
      );
      const worker = startWorker({
        engine: o.engine,
        concurrency: 8,
        until: () => settleBatch(db, batch.id),
      });
      await worker.done;
      const cost = await db.query<{ c: string | null }>(
        'SELECT sum(cost_usd) AS c FROM runs WHERE batch_id = $1',
        [batch.id],
      );
      report.costUsd += Number(cost.rows[0]?.c ?? 0);
    }

    // The CRMs: archive the departed contacts' records, create the new ones.
    const gone = [...departed.values()].flat().map((c) => c.id);
    if (gone.length > 0 || newContacts.length > 0) {
      const names = o.syncs ?? (await syncsInUse(db));
      for (const name of names) {
        try {
          const def = await loadSync(name);
          if (def.entity !== 'contact') continue;
          const r = await runSync({ db, def, env: o.env, ids: newContacts, archive: gone });
          report.synced.push({
            sync: def.name,
            created: r.counts.created,
            archived: r.counts.archived,
            updated: r.counts.updated,
            errors: r.errors.length,
          });
          status(
            `freshness → ${def.destination} (${def.name}): ${r.counts.archived} archived, ${r.counts.created} created`,
          );
        } catch (err) {
          report.synced.push({ sync: name, created: 0, archived: 0, updated: 0, errors: 1 });
          status(`freshness → ${name}: ${(err as Error).message}`);
        }
      }
    }
    await db.query(
      `UPDATE freshness_passes SET state = 'done', finished_at = $2, cost_usd = $3 WHERE id = $1`,
      [passId, new Date(now.getTime() + (Date.now() - t0)).toISOString(), report.costUsd],
    );
    return report;
  } catch (err) {
    await db
      .query(`UPDATE freshness_passes SET state = 'failed', finished_at = now(), error = $2 WHERE id = $1`, [
        passId,
        (err as Error).message,
      ])
      .catch(() => {});
    throw err;
  }
}

/** Built-in contact syncs that have sent records. */
async function syncsInUse(db: Db): Promise<string[]> {
  const r = await db.query<{ sync_name: string }>(
    "SELECT DISTINCT sync_name FROM sync_records WHERE entity_type = 'contact'",
  );
  const builtin = new Set(await builtinSyncs());
  return r.rows.map((x) => x.sync_name).filter((n) => builtin.has(n));
}
