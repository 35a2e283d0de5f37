import type { Db, Queryable } from '../../db/db.ts';
import { sandboxProviders } from '../../demo/sandbox-providers.ts';
import { findProvider } from '../../engine/engine-services.ts';
import { type Forecast, forecastBatch } from '../../engine/forecast.ts';
import type { PipelineDefinition } from '../../engine/pipeline-types.ts';
import { type AccountSelection, selectAccountsSql } from '../../engine/selection.ts';
import type { ProviderDefinition } from '../../providers/define-provider.ts';
import { UiError } from '../ui-auth.ts';

export interface ImportSummary {
  id: number;
  file: string;
  kind: 'accounts' | 'contacts';
  status: string;
  rowsRead: number;
  inserted: number;
  merged: number;
  unchanged: number;
  rejected: number;
  errors: { line: number; reason: string }[];
  startedAt: Date;
}

export async function readImport(db: Queryable, id: number): Promise<ImportSummary | undefined> {
  const r = await db.query<ImportSummary>(
    `SELECT id, file, kind, status, rows_read AS "rowsRead", inserted, merged, unchanged, rejected, errors,
            started_at AS "startedAt" FROM imports WHERE id = $1`,
    [id],
  );
  return r.rows[0];
}

/**
 * The accounts an import wrote values for (a contacts file: the contacts' accounts). An import that
 * only repeated what the database held writes nothing, so it has no accounts of its own.
 */
export async function accountsOfImport(
  db: Queryable,
  imp: Pick<ImportSummary, 'id' | 'kind'>,
): Promise<number[]> {
  const r = await db.query<{ id: number }>(
    imp.kind === 'accounts'
      ? `SELECT DISTINCT entity_id AS id FROM field_values WHERE import_id = $1 AND entity_type = 'account' ORDER BY 1`
      : `SELECT DISTINCT c.account_id AS id FROM field_values fv JOIN contacts c ON c.id = fv.entity_id
          WHERE fv.import_id = $1 AND fv.entity_type = 'contact' AND c.account_id IS NOT NULL ORDER BY 1`,
    [imp.id],
  );
  return r.rows.map((x) => x.id);
}

/** What to run on: this import's accounts, every account, or a `--where` filter. */
export type Scope = { kind: 'import'; importId: number } | { kind: 'all' } | { kind: 'where'; where: string };

export async function selectionOf(db: Queryable, scope: Scope): Promise<AccountSelection> {
  if (scope.kind === 'all') return {};
  if (scope.kind === 'where') return { where: scope.where };
  const imp = await readImport(db, scope.importId);
  if (!imp) throw new UiError(404, `import ${scope.importId} does not exist`);
  const ids = await accountsOfImport(db, imp);
  if (ids.length === 0)
    throw new UiError(
      422,
      `import ${imp.id} added or changed nothing, so it has no accounts of its own: run on all accounts or a filter instead`,
    );
  return { ids };
}

export function providersFor(sandbox: boolean): (id: string) => ProviderDefinition | undefined {
  return sandbox ? sandboxProviders() : findProvider;
}

/** The dry run of `sluice run --dry-run`: nothing is spent. */
export async function forecastSelection(
  db: Db,
  pipeline: PipelineDefinition,
  selection: AccountSelection,
  sandbox: boolean,
): Promise<Forecast> {
  const select = selectAccountsSql(selection, 1);
  const ids = (await db.query<{ id: number }>(select.text, select.params)).rows.map((r) => r.id);
  return forecastBatch(db, pipeline, ids, providersFor(sandbox));
}
