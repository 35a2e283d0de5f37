/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
import type { Hono } from 'hono';
import { allows } from '../../api-keys/api-keys.ts';
import { CriticalError } from '../../errors.ts';
import { writeFieldValues } from '../../records/field-values.ts';
import { readLineage } from '../../records/lineage.ts';
import { readRecord } from '../../records/read-records.ts';
import type { EntityType } from '../../records/record-fields.ts';
import { pageFrame } from '../frame.ts';
import { LineageDrawer, RecordFilterForm, RecordsTable, StatusLegend } from '../pages/records-page.tsx';
import { listRecords, parseRecordFilter } from '../queries/records.ts';
import { Flash, renderFragment, renderPage, wantsFragment } from '../render.tsx';
import { requireSession, UiError } from '../ui-auth.ts';
import type { UiEnv } from '../ui-env.ts';
import { doneRedirect, formField, optionalInt, positiveInt } from './route-helpers.ts';

const PAGE = 50;

function entityType(raw: string): EntityType {
  if (raw !== 'account' && raw !== 'contact') throw new UiError(404, `no such record type "${raw}"`);
  return raw;
}

const displayName = (r: Record<string, unknown>, type: EntityType, id: number) =>
  String((type === 'account' ? r.name : (r.full_name ?? r.email)) ?? `${type} ${id}`);

export function registerRecordRoutes(ui: Hono<UiEnv>): void {
  ui.get('/records', requireSession(), async (c) => {
    const db = c.get('services').db;
    const f = parseRecordFilter((k) =>
      k === 'status' ? c.req.queries('status')?.join(',') : c.req.query(k),
    );
    const after = optionalInt(c.req.query('cursor'), 'cursor');
    const page = await listRecords(db, f, { limit: PAGE, ...(after ? { after } : {}) });
    const frame = await pageFrame(
      c,
      f.type === 'account' ? 'Records: accounts' : 'Records: contacts',
      '/records',
    );
    const next = new URL(c.req.url);
    if (page.next !== null) next.searchParams.set('cursor', String(page.next));
    return renderPage(
      c,
      frame,
      <>
        <Flash c={c} />
        <RecordFilterForm f={f} />
        <StatusLegend />
        <RecordsTable type={f.type} page={page} />
        {page.next !== null ? (
          <p>
            <a href={next.pathname + next.search}>next page →</a>
          </p>
        ) : null}
        <aside class="drawer" id="drawer"></aside>
      </>,
    );
  });

  ui.get('/records/:type/:id/lineage/:field', requireSession(), async (c) => {
    const db = c.get('services').db;
    const type = entityType(c.req.param('type'));
    const id = positiveInt(c.req.param('id'), 'record id');
    const field = c.req.param('field');
    const record = await readRecord(db, type, id);
    if (!record) throw new UiError(404, `${type} ${id} does not exist`);
    const lineage = (await readLineage(db, type, id)).find((l) => l.field === field);
    const session = c.get('session');
    const drawer = (
      <LineageDrawer
        type={type}
        id={id}
        field={field}
        name={displayName(record, type, id)}
        lineage={lineage}
        csrf={session.csrf}
        canWrite={allows(session.apiKey.scopes, 'write')}
      />
    );
    if (wantsFragment(c)) return renderFragment(c, drawer);
    const frame = await pageFrame(c, `Lineage of ${type} ${id}`, '/records');
    return renderPage(
      c,
      frame,
      <>
        <Flash c={c} />
        <p>
          <a href={`/records?type=${type}&id=${id}`}>← the record</a>
        </p>
        {drawer}
      </>,
    );
  });

  ui.post('/records/:type/:id/fields/:field', requireSession('write'), async (c) => {
    const db = c.get('services').db;
    const type = entityType(c.req.param('type'));
    const id = positiveInt(c.req.param('id'), 'record id');
    const field = c.req.param('field');
    const raw = await formField(c, 'value');
    const back = `/records/${type}/${id}/lineage/${encodeURIComponent(field)}`;
    if (!(await readRecord(db, type, id))) throw new UiError(404, `${type} ${id} does not exist`);
    try {
      await db.transaction((tx) =>
        writeFieldValues(tx, [
          { entityType: type, entityId: id, field, value: raw === '' ? null : raw, source: 'manual' },
        ]),
      );
    } catch (err) {
      if (err instanceof CriticalError) return doneRedirect(c, back, err.message, true);
      throw err;
    }
    return doneRedirect(c, back, `${field} of ${type} ${id} set by hand: the manual value is now current`);
  });
}
